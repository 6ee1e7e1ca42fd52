"""The one way the portal e-mails people, and the one rule for who gets what.

`email_queue` writes an outbox row in the caller's transaction (the schema it runs in: a
client's, or public for staff notices); after commit a task sends it, and if the broker is down
the sweeper (`integrations.tasks.outbox_sweep`) sends it when due. Nothing is sent inline.

`notification_recipients` decides who is told. Per-user notification settings (severities,
digests) extend it, and only it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from integrations.choices import EmailState
from integrations.models import OutboundEmail
from tenants.choices import ClientRole, StaffRole
from tenants.models import Client, Membership, User

log = logging.getLogger(__name__)

# Audiences of a notice.
CLIENT_ADMINS = "client_admins"  # the client's owners and admins
CLIENT_OWNERS = "client_owners"
APPEALS_STAFF = "appeals_staff"  # the assignee if still active, else every appeals agent

EMAIL_LEASE = timedelta(minutes=2)
EMAIL_MAX_ATTEMPTS = 10


def notification_recipients(
    *,
    audience: str,
    client: Client | None = None,
    severity: str | None = None,
    event_type: str = "",
    extra_member_ids: Iterable[int] = (),
    assignee_id: int | None = None,
    with_account_manager: bool = False,
) -> list[str]:
    """The e-mail addresses told about something, sorted and once each. Only active people.

    `severity` and `event_type` are what a notice is about, for per-user settings to filter on.
    """
    emails: set[str] = set()
    if audience in (CLIENT_ADMINS, CLIENT_OWNERS) and client is not None:
        roles = (
            [ClientRole.OWNER]
            if audience == CLIENT_OWNERS
            else [ClientRole.OWNER, ClientRole.ADMIN]
        )
        members = Membership.objects.filter(client=client, user__is_active=True)
        emails.update(members.filter(role__in=roles).values_list("user__email", flat=True))
        extra = [pk for pk in extra_member_ids if pk]
        if extra:
            emails.update(members.filter(user_id__in=extra).values_list("user__email", flat=True))
    elif audience == APPEALS_STAFF:
        staff = User.objects.filter(is_active=True, is_staff=True)
        if assignee_id:  # an assignee who has left is as good as none
            emails.update(staff.filter(pk=assignee_id).values_list("email", flat=True))
        if not emails:
            emails.update(
                staff.filter(staff_role=StaffRole.APPEALS_AGENT).values_list("email", flat=True)
            )
    if with_account_manager and client is not None and client.account_manager_id:
        emails.update(
            User.objects.filter(pk=client.account_manager_id, is_active=True).values_list(
                "email", flat=True
            )
        )
    return sorted(emails)


def email_queue(*, recipients: Iterable[str], subject: str, body: str) -> OutboundEmail | None:
    """Queue one e-mail in the current transaction; sent after commit (or by the sweeper)."""
    recipients = sorted(set(recipients))
    if not recipients:
        return None
    now = timezone.now()
    email = OutboundEmail.objects.create(
        recipients=recipients, subject=subject[:300], body=body, created_at=now, next_attempt_at=now
    )
    schema = connection.schema_name
    transaction.on_commit(lambda: _enqueue_send(schema, [email.pk]), robust=True)
    return email


def emails_queue_many(emails: list[tuple[Iterable[str], str, str]]) -> int:
    """`email_queue` for many (recipients, subject, body) at once: one INSERT, one send after
    commit. Returns the e-mails queued (those with nobody to tell are left out)."""
    now = timezone.now()
    rows = [
        OutboundEmail(
            recipients=sorted(set(recipients)),
            subject=subject[:300],
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        for recipients, subject, body in emails
        if recipients
    ]
    if not rows:
        return 0
    created = OutboundEmail.objects.bulk_create(rows)
    schema = connection.schema_name
    ids = [email.pk for email in created]
    transaction.on_commit(lambda: _enqueue_send(schema, ids), robust=True)
    return len(rows)


def _enqueue_send(schema: str, ids: list[int]) -> None:
    from integrations.tasks import email_send
    from portal.celery import enqueue_or_leave_to_sweeper

    enqueue_or_leave_to_sweeper(email_send, schema, ids)


EMAIL_BATCH = 200


def emails_send(*, ids: Iterable[int] | None = None, limit: int = EMAIL_BATCH) -> int:
    """Send the given (or all due) pending e-mails of this schema; each is claimed first, so two
    senders never send one twice. Returns how many were sent."""
    now = timezone.now()
    with transaction.atomic():
        due = OutboundEmail.objects.select_for_update(skip_locked=True).filter(
            state=EmailState.PENDING, next_attempt_at__lte=now
        )
        if ids is not None:
            due = due.filter(pk__in=list(ids))
        claimed = list(due.order_by("next_attempt_at", "id")[:limit])
        OutboundEmail.objects.filter(pk__in=[e.pk for e in claimed]).update(
            next_attempt_at=now + EMAIL_LEASE
        )
    sent = 0
    for email in claimed:
        try:
            send_mail(
                subject=email.subject,
                message=email.body,
                from_email=None,
                recipient_list=email.recipients,
            )
        except Exception as exc:  # SMTP down: try again later, keep the row
            attempts = email.attempts + 1
            OutboundEmail.objects.filter(pk=email.pk).update(
                attempts=attempts,
                error=str(exc)[:300],
                state=EmailState.FAILED if attempts >= EMAIL_MAX_ATTEMPTS else EmailState.PENDING,
                next_attempt_at=timezone.now() + timedelta(minutes=2**attempts),
            )
            log.warning("e-mail %s not sent: %s", email.pk, exc)
            continue
        OutboundEmail.objects.filter(pk=email.pk).update(
            state=EmailState.SENT, sent_at=timezone.now(), attempts=email.attempts + 1, error=""
        )
        sent += 1
    return sent
