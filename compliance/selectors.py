"""Reads for a client's WhatsApp assets and their health (inside the client's schema)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from compliance.models import Alert, HealthEvent, HealthSnapshot, PhoneNumber
from portal.db import replica_for_reads


def numbers_for_dashboard() -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.select_related("account").order_by("score", "display_phone_number")


# What the dashboard's numbers table shows of each number (not Meta's raw payload or the
# account): reading only these keeps the page's one query of numbers small.
DASHBOARD_NUMBER_FIELDS = (
    "display_phone_number", "verified_name", "status", "quality", "messaging_limit",
    "score", "band",
)  # fmt: skip


def number_rows_for_dashboard() -> QuerySet[PhoneNumber]:
    """The dashboard's numbers, in its order, with only the fields its table shows."""
    return PhoneNumber.objects.only(*DASHBOARD_NUMBER_FIELDS).order_by(
        "score", "display_phone_number"
    )


def number_get(*, number_id: int) -> PhoneNumber:
    """The number (of the current client's schema), or 404."""
    return get_object_or_404(PhoneNumber.objects.select_related("account"), pk=number_id)


def sparklines(*, numbers: list[PhoneNumber], days: int = 30) -> dict[int, list[int]]:
    """Score series per number over `days`, from one query."""
    since = timezone.now() - timedelta(days=days)
    series: dict[int, list[int]] = defaultdict(list)
    for number_id, score in (
        HealthSnapshot.objects.using(replica_for_reads())
        .filter(number__in=numbers, taken_at__gte=since)
        .order_by("number_id", "taken_at")
        .values_list("number_id", "score")
    ):
        series[number_id].append(score)
    return series


def events_recent() -> QuerySet[HealthEvent]:
    return HealthEvent.objects.select_related("number", "account").order_by("-occurred_at", "-id")


DASHBOARD_ALERT_FIELDS = (
    "created_at", "event__id", "event__kind", "event__severity", "event__title",
    "event__detail", "event__occurred_at",
)  # fmt: skip


def alerts_open() -> QuerySet[Alert]:
    """Open alerts, newest first, with only what the dashboard's alert list shows of each
    alert's event (its title names the number already)."""
    return (
        Alert.objects.filter(acknowledged_at__isnull=True)
        .select_related("event")
        .only(*DASHBOARD_ALERT_FIELDS)
        .order_by("-created_at")
    )


def events_for_number(*, number: PhoneNumber) -> QuerySet[HealthEvent]:
    """The number's own events and those of its account that concern every number, with only
    what the number page's timeline shows of each (not its data or the number again)."""
    return (
        HealthEvent.objects.filter(
            Q(number=number) | Q(account=number.account, number__isnull=True)
        )
        .only("occurred_at", "title", "severity", "source", "detail")
        .order_by("-occurred_at", "-id")
    )


def restrictions_active(*, account) -> QuerySet:
    from compliance.models import AccountRestriction

    now = timezone.now()
    return AccountRestriction.objects.filter(account=account).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def activity_for_client(*, client):
    """The client's own audit trail, as the client may read it: staff's internal notes and
    their files are left out (their rows say nothing of their content, but not even that)."""
    from portal.audit.models import AuditLog

    return (
        AuditLog.objects.filter(client=client)
        .exclude(action="appeal.note_added")
        .exclude(after__contains={"internal": True})
    )
