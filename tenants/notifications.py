"""Who receives an alert by e-mail, and when: the one recipient rule, per-member settings and
the daily digest.

Every member of a client may choose which alert severities reach them by e-mail, at once or in
a daily digest (`NotificationSetting`); a member without a setting gets the default of their
role: owners and admins every alert at once, agents and viewers none. The client's account
manager (BSP staff, not a member) always gets every alert at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.audit.services import audit_record
from tenants.choices import ClientRole
from tenants.models import (
    Client,
    DigestEntry,
    Membership,
    NotificationDelivery,
    NotificationSetting,
)

# compliance.choices.Severity values that raise an alert (info events raise none).
ALERT_SEVERITIES = ("critical", "warning")
SEVERITY_LABELS = {"critical": "Critical", "warning": "Warning"}
_DEFAULT_ROLES = frozenset({ClientRole.OWNER, ClientRole.ADMIN})


@dataclass(frozen=True)
class Preference:
    severities: tuple[str, ...]
    delivery: str
    is_default: bool


def preference_default(role: str) -> Preference:
    severities = ALERT_SEVERITIES if role in _DEFAULT_ROLES else ()
    return Preference(severities, NotificationDelivery.IMMEDIATE, is_default=True)


def preference_for(membership: Membership) -> Preference:
    setting = getattr(membership, "notification_setting", None)
    if setting is None:
        return preference_default(membership.role)
    return Preference(tuple(setting.severities), setting.delivery, is_default=False)


def notification_setting_update(
    *, membership: Membership, severities: list[str], delivery: str, actor=None
) -> NotificationSetting:
    """Save one member's choice (audited)."""
    unknown = set(severities) - set(ALERT_SEVERITIES)
    if unknown:
        raise ValueError(f"Unknown severities: {', '.join(sorted(unknown))}.")
    if delivery not in NotificationDelivery.values:
        raise ValueError(f"Unknown delivery {delivery!r}.")
    ordered = [s for s in ALERT_SEVERITIES if s in severities]
    with transaction.atomic():
        setting = (
            NotificationSetting.objects.select_for_update().filter(membership=membership).first()
        )
        before = preference_for(membership)
        if setting is None:
            setting = NotificationSetting(membership=membership)
        setting.severities = ordered
        setting.delivery = delivery
        setting.updated_at = timezone.now()
        setting.save()
        audit_record(
            action="notifications.updated",
            actor=actor,
            client=membership.client,
            target=setting,
            before={"severities": list(before.severities), "delivery": before.delivery},
            after={"severities": ordered, "delivery": delivery},
        )
    return setting


@dataclass
class Recipients:
    """The one answer to "who hears about this alert": e-mails now, members for the digest."""

    immediate: list[str] = field(default_factory=list)
    digest: list[Membership] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.immediate) + len(self.digest)


def alert_recipients(*, client: Client, severity: str) -> Recipients:
    """The recipient rule for an alert of `severity` in `client` (one query for the members)."""
    result = Recipients()
    memberships = (
        Membership.objects.filter(client=client, user__is_active=True)
        .select_related("user", "notification_setting")
        .order_by("user__email")
    )
    for membership in memberships:
        preference = preference_for(membership)
        if severity not in preference.severities:
            continue
        if preference.delivery == NotificationDelivery.DAILY:
            result.digest.append(membership)
        else:
            result.immediate.append(membership.user.email)
    manager = client.account_manager if client.account_manager_id else None
    if manager is not None and manager.is_active and manager.email not in result.immediate:
        result.immediate.append(manager.email)
    result.immediate.sort()
    return result


def digest_queue(*, recipients: Recipients, severity: str, event) -> None:
    """Keep an alert for the daily digest of the members who chose one (in the caller's
    transaction; the immediate e-mails go through the outbox, `integrations.notify`)."""
    DigestEntry.objects.bulk_create(
        DigestEntry(membership=m, severity=severity, title=event.title[:300], detail=event.detail)
        for m in recipients.digest
    )


def digest_send_due(*, now=None) -> int:
    """Send each member the alerts queued for their digest since the last one, then drop them.
    Safe to run twice: what is sent is deleted in the same transaction. Returns e-mails sent."""
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        entries = list(
            DigestEntry.objects.select_for_update(skip_locked=True)
            .filter(created_at__lte=now)
            .select_related("membership__user", "membership__client")
            .order_by("membership_id", "created_at", "id")
        )
        by_member: dict[int, list[DigestEntry]] = defaultdict(list)
        for entry in entries:
            by_member[entry.membership_id].append(entry)
        for items in by_member.values():
            membership = items[0].membership
            client = membership.client
            lines = [
                f"- [{SEVERITY_LABELS.get(e.severity, e.severity)}] "
                f"{e.created_at:%Y-%m-%d %H:%M} UTC: {e.title}"
                + (f"\n  {e.detail}" if e.detail else "")
                for e in items
            ]
            if membership.user.is_active:
                from integrations.notify import email_queue

                email_queue(  # through the outbox: a broker outage delays it, loses nothing
                    recipients=[membership.user.email],
                    subject=f"[{client.name}] Daily digest: {len(items)} alert(s)",
                    body="\n".join(lines)
                    + f"\n\nhttps://{client.slug}.{settings.PORTAL_DOMAIN}/ shows them all.",
                )
                sent += 1
        DigestEntry.objects.filter(pk__in=[e.pk for e in entries]).delete()
    return sent
