"""A number's 30-day signals, read for every reassessment: counted exactly, in one statement."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.choices import EventKind, EventSource, Severity
from compliance.models import HealthEvent, MessageStatus, PhoneNumber, WhatsAppAccount
from compliance.services import numbers_signals


def _event(account, number, kind, at):
    _event.n = getattr(_event, "n", 0) + 1
    return HealthEvent(
        dedupe_key=f"signals-test-{_event.n}",
        account=account,
        number=number,
        kind=kind,
        severity=Severity.WARNING,
        title=str(kind),
        source=EventSource.WEBHOOK,
        occurred_at=at,
    )


def _status(number, n, status, at, code=None):
    return MessageStatus(
        number=number,
        phone_number_meta_id=number.meta_id,
        wamid=f"wamid.{number.pk}.{n}",
        recipient="447911000000",
        status=status,
        occurred_at=at,
        error_code=code,
    )


def test_signals_count_each_numbers_events_and_deliveries_of_30_days(acme, acme_waba):
    now = timezone.now()
    recent, old = now - timedelta(days=3), now - timedelta(days=31)
    with schema_context(acme.schema_name):
        first, second = (
            PhoneNumber.objects.create(
                account=acme_waba, meta_id=f"21100000{n}", display_phone_number=f"+1 555 0{n}"
            )
            for n in (1, 2)
        )
        other = WhatsAppAccount.objects.create(meta_id="1119999999", name="Other")
        HealthEvent.objects.bulk_create(
            [
                _event(acme_waba, first, EventKind.QUALITY_DROP, recent),
                _event(acme_waba, first, EventKind.QUALITY_DROP, recent),
                _event(acme_waba, first, EventKind.QUALITY_DROP, old),  # outside the window
                _event(acme_waba, second, EventKind.LIMIT_DROP, recent),
                _event(acme_waba, None, EventKind.TEMPLATE_PAUSED, recent),  # account-wide
                _event(other, None, EventKind.TEMPLATE_PAUSED, recent),  # another account's
            ]
        )
        MessageStatus.objects.bulk_create(
            [_status(first, n, "sent", recent) for n in range(5)]
            + [_status(first, 10 + n, "delivered", recent) for n in range(7)]  # not counted
            + [_status(first, 20, "failed", recent, 131048)]
            + [_status(first, 21, "failed", recent, 131048)]
            + [_status(first, 22, "failed", recent, 999)]  # not a health error
            + [_status(first, 23, "sent", old)]
            + [_status(second, 30, "failed", recent, 131026)]
        )

        with CaptureQueriesContext(connection) as queries:
            signals = numbers_signals(account=acme_waba, numbers=[first, second], restrictions=())
    assert len(queries) == 1

    one, two = signals[first.pk], signals[second.pk]
    assert (one.quality_drops_30d, one.limit_drops_30d, one.template_pauses_30d) == (2, 0, 1)
    assert (two.quality_drops_30d, two.limit_drops_30d, two.template_pauses_30d) == (0, 1, 1)
    assert one.errors_30d == {131048: 2, 131049: 0, 131050: 0, 131026: 0}
    assert one.sent_30d == 5 + 2  # attempts: sent plus the health errors
    assert two.errors_30d[131026] == 1
    assert two.sent_30d == 1


def test_signals_read_the_restrictions_in_force_newest_first_in_the_same_statement(acme, acme_waba):
    from compliance.models import AccountRestriction

    now = timezone.now()
    with schema_context(acme.schema_name):
        number = PhoneNumber.objects.create(
            account=acme_waba, meta_id="2110000009", display_phone_number="+1 555 09"
        )
        other = WhatsAppAccount.objects.create(meta_id="1119999998", name="Other")
        for account, kind, expires, received in [
            (acme_waba, "business_initiated_messaging", now + timedelta(days=1), 3),
            (acme_waba, "add_phone_number", None, 1),
            (acme_waba, "utility_templates", now - timedelta(hours=1), 2),  # over
            (other, "customer_initiated_messaging", None, 0),  # another account's
        ]:
            AccountRestriction.objects.create(
                account=account,
                restriction_type=kind,
                raw_type=kind.upper(),
                expires_at=expires,
                received_at=now - timedelta(hours=received),
            )

        with CaptureQueriesContext(connection) as queries:
            signals = numbers_signals(account=acme_waba, numbers=[number], now=now)
    assert len(queries) == 1
    assert [r.value for r in signals[number.pk].active_restrictions] == [
        "add_phone_number",
        "business_initiated_messaging",
    ]
