"""Notification settings per member, and the one recipient rule the alert e-mails follow: at
once or in the daily digest, only the severities chosen, the account manager always."""

import pytest
from django_tenants.utils import schema_context

from compliance.choices import EventKind, EventSource, Severity
from compliance.models import Alert
from compliance.services import health_event_record
from portal.audit.models import AuditLog
from tenants.models import DigestEntry, Membership, NotificationSetting
from tenants.notifications import alert_recipients, digest_send_due, notification_setting_update
from tenants.tasks import notification_digests_send

pytestmark = pytest.mark.django_db


def _alert(client, waba, severity=Severity.CRITICAL, key="n-alert") -> Alert:
    with schema_context(client.schema_name):
        event = health_event_record(
            kind=EventKind.RESTRICTION,
            severity=severity,
            title="Account restricted",
            detail="Business-initiated messages are blocked.",
            key=key,
            source=EventSource.WEBHOOK,
            account=waba,
        )
        return Alert.objects.get(event=event)


def _send_emails(client) -> None:
    """What the outbox sweeper does: send the e-mails the alerts queued in `client`."""
    from integrations.notify import emails_send

    with schema_context(client.schema_name):
        emails_send()


def _membership(client, user) -> Membership:
    return Membership.objects.get(client=client, user=user)


def test_by_default_owners_and_admins_get_every_alert_at_once(acme):
    recipients = alert_recipients(client=acme, severity="warning")

    assert recipients.immediate == ["admin@acme.example", "owner@acme.example"]
    assert recipients.digest == []


def test_a_member_saves_their_own_settings_on_the_page(web, acme, acme_agent):
    response = web(acme, acme_agent).post(
        "/settings/notifications/", {"severities": ["critical"], "delivery": "daily"}
    )

    assert response.status_code == 302
    setting = NotificationSetting.objects.get(membership__client=acme, membership__user=acme_agent)
    assert (setting.severities, setting.delivery) == (["critical"], "daily")
    audit = AuditLog.objects.get(action="notifications.updated", actor=acme_agent)
    assert audit.before == {"severities": [], "delivery": "immediate"}
    assert audit.after == {"severities": ["critical"], "delivery": "daily"}


def test_a_bad_choice_is_a_form_error_and_changes_nothing(web, acme, acme_owner):
    response = web(acme, acme_owner).post(
        "/settings/notifications/", {"severities": ["info"], "delivery": "hourly"}
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Select a valid choice. info is not one of the available choices." in body
    assert "Select a valid choice. hourly is not one of the available choices." in body
    assert not NotificationSetting.objects.exists()


def test_settings_are_per_client_a_member_of_one_sees_nothing_of_another(
    web, acme, globex, globex_owner, acme_owner
):
    notification_setting_update(
        membership=_membership(acme, acme_owner), severities=[], delivery="immediate"
    )

    assert web(acme, globex_owner).get("/settings/notifications/").status_code == 403
    globex_page = web(globex, globex_owner).get("/settings/notifications/")
    assert globex_page.status_code == 200
    assert globex_page.context["form"].initial == {
        "severities": ["critical", "warning"],
        "delivery": "immediate",
    }
    assert alert_recipients(client=globex, severity="critical").immediate == [
        "owner@globex.example"
    ]


def test_the_alert_email_follows_each_members_choice(
    acme, acme_waba, acme_owner, acme_admin, acme_agent, staff_manager, mailoutbox
):
    acme.account_manager = staff_manager
    acme.save(update_fields=["account_manager"])
    notification_setting_update(
        membership=_membership(acme, acme_owner), severities=["critical"], delivery="daily"
    )
    notification_setting_update(
        membership=_membership(acme, acme_admin), severities=[], delivery="immediate"
    )
    notification_setting_update(
        membership=_membership(acme, acme_agent), severities=["critical"], delivery="immediate"
    )
    _alert(acme, acme_waba)
    _send_emails(acme)

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["agent@acme.example", "manager@bsp.example"]
    entry = DigestEntry.objects.get()
    assert (entry.membership.user, entry.title) == (acme_owner, "Account restricted")


def test_a_warning_reaches_only_who_chose_warnings(acme, acme_waba, acme_owner, mailoutbox):
    notification_setting_update(
        membership=_membership(acme, acme_owner), severities=["critical"], delivery="immediate"
    )
    _alert(acme, acme_waba, severity=Severity.WARNING, key="n-warning")
    _send_emails(acme)

    assert [m.to for m in mailoutbox] == [["admin@acme.example"]]


def test_the_daily_digest_sends_each_member_one_email_once(
    acme, globex, acme_waba, globex_waba, acme_owner, globex_owner, mailoutbox
):
    for client, owner in ((acme, acme_owner), (globex, globex_owner)):
        notification_setting_update(
            membership=_membership(client, owner), severities=["critical"], delivery="daily"
        )
        for m in Membership.objects.filter(client=client, role="admin"):
            notification_setting_update(membership=m, severities=[], delivery="immediate")
    for n, (client, waba) in enumerate(
        [(acme, acme_waba), (acme, acme_waba), (globex, globex_waba)]
    ):
        _alert(client, waba, key=f"digest-{n}")
        _send_emails(client)
    assert mailoutbox == []

    sent = notification_digests_send.apply().get()
    again = digest_send_due()
    from integrations.notify import emails_send

    emails_send()  # the digests went through the public schema's outbox

    assert (sent, again) == (2, 0)
    by_person = {m.to[0]: m for m in mailoutbox}
    assert sorted(by_person) == ["owner@acme.example", "owner@globex.example"]
    assert by_person["owner@acme.example"].subject == "[Acme Retail] Daily digest: 2 alert(s)"
    assert by_person["owner@acme.example"].body.count("Account restricted") == 2
    assert "Globex" not in by_person["owner@acme.example"].body
    assert by_person["owner@globex.example"].body.count("Account restricted") == 1
    assert not DigestEntry.objects.exists()


def test_the_digest_is_on_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["notification-digests"]
    assert entry["task"] == "tenants.tasks.notification_digests_send"
