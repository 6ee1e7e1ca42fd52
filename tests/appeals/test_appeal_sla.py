"""SLA clocks: business-time arithmetic (pure), pauses while waiting on the client or on Meta,
the staff index sorted by due time, and breach warnings."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django_tenants.utils import schema_context

from appeals import services, sla
from integrations.notify import emails_send
from tenants.models import WorkItem, WorkKind
from tests.appeals.conftest import move, open_appeal

HOURS = sla.BusinessHours.parse(
    hours="09:00-17:00", days=["mon", "tue", "wed", "thu", "fri"], tz="UTC"
)
BERLIN = sla.BusinessHours.parse(
    hours="09:00-17:00", days=["mon", "tue", "wed", "thu", "fri"], tz="Europe/Berlin"
)


def at(text: str) -> datetime:
    """'mon 10:00' in the week of Monday 23 November 2026 (UTC); 'mon2' is the next week."""
    day, clock = text.split()
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    offset = 7 if day.endswith("2") else 0
    h, m = (int(x) for x in clock.split(":"))
    start = datetime(2026, 11, 23, h, m, tzinfo=UTC)
    return start + timedelta(days=days.index(day.rstrip("2")) + offset)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("mon 10:00", "mon 12:00", 2),
        ("mon 16:00", "tue 10:00", 2),  # across a night
        ("fri 16:00", "mon2 10:00", 2),  # across a weekend
        ("sat 10:00", "sun 18:00", 0),  # all weekend
        ("mon 07:00", "mon 08:00", 0),  # before opening
        ("mon 08:00", "mon 18:00", 8),  # longer than the day
        ("fri 12:00", "fri2 12:00", 40),  # a full week
        ("tue 12:00", "mon 12:00", 0),  # end before start
    ],
)
def test_business_seconds_between(start, end, hours):
    assert sla.business_seconds_between(at(start), at(end), HOURS) == hours * 3600


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        ("mon 10:00", 4, "mon 14:00"),
        ("mon 15:00", 4, "tue 11:00"),  # over the night
        ("fri 15:00", 4, "mon2 11:00"),  # over the weekend
        ("sat 12:00", 1, "mon2 10:00"),  # starts on a closed day
        ("mon 07:00", 1, "mon 10:00"),  # starts before opening
        ("mon 17:00", 0, "tue 09:00"),  # nothing left at closing: the next opening
        ("mon 09:00", 8, "mon 17:00"),  # exactly one day
    ],
)
def test_add_business_seconds(start, hours, due):
    assert sla.add_business_seconds(at(start), hours * 3600, HOURS) == at(
        due.replace("mon2", "mon2")
    )


def test_business_hours_are_local_to_the_configured_time_zone():
    # 09:00 in Berlin is 08:00 UTC in November (CET, UTC+1).
    assert sla.business_seconds_between(at("mon 07:30"), at("mon 09:00"), BERLIN) == 3600
    assert sla.add_business_seconds(at("mon 07:00"), 0, BERLIN) == at("mon 08:00")


@pytest.mark.parametrize(
    ("hours", "days", "tz"),
    [
        ("9-17", ["mon"], "UTC"),
        ("17:00-09:00", ["mon"], "UTC"),
        ("09:00-17:00", ["mo?"], "UTC"),
        ("09:00-17:00", ["mon"], "Mars/Base"),
    ],
)
def test_bad_business_hours_settings_fail_loudly(hours, days, tz):
    with pytest.raises(ImproperlyConfigured):
        sla.BusinessHours.parse(hours=hours, days=days, tz=tz)


@pytest.mark.parametrize(
    ("used", "running", "stopped", "state"),
    [
        (3600, True, False, "ok"),
        (12 * 3600, True, False, "due_soon"),  # 75% of 16 h
        (17 * 3600, True, False, "breached"),
        (3600, False, False, "paused"),
        (3600, False, True, "met"),
        (17 * 3600, False, True, "missed"),
    ],
)
def test_clock_states(used, running, stopped, state):
    clock = sla.Clock(used=used, target=16 * 3600, running=running, stopped=stopped, due_at=None)
    assert clock.state(warn_at_percent=75) == state


class Now:
    def __init__(self, monkeypatch):
        self.value = at("mon 10:00")
        monkeypatch.setattr("appeals.services.timezone.now", lambda: self.value)

    def set(self, text):
        self.value = at(text)


def test_the_resolution_clock_pauses_over_a_night_and_a_weekend_while_waiting_on_the_client(
    monkeypatch, acme, acme_waba, acme_owner, staff_appeals
):
    now = Now(monkeypatch)
    now.set("fri 15:00")
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {})])
    item = WorkItem.objects.get(kind=WorkKind.APPEAL, client=acme, object_id=str(ticket.pk))
    # First response due 4 business hours after Friday 15:00: Monday 11:00.
    assert (item.data["clock"], item.sort_key) == (
        "first_response",
        int(at("mon2 11:00").timestamp()),
    )

    now.set("fri 16:00")
    ticket = move(ticket, acme, [("start_review", staff_appeals, {})])
    now.set("fri 16:30")
    ticket = move(ticket, acme, [("request_info", staff_appeals, {"question": "Opt-in page?"})])
    item.refresh_from_db()
    assert (item.status, item.sort_key) == ("waiting_on_client", services.SORT_PAUSED)

    now.set("tue2 11:00")  # the client answers after the weekend, on Tuesday 1 December
    ticket = move(ticket, acme, [("answer", acme_owner, {"answer": "Checkout page."})])
    with schema_context(acme.schema_name):
        ticket.refresh_from_db()
        # Friday 15:00-16:30 ran (1.5 h); the pause from Friday 16:30 to Tuesday 11:00 did not.
        assert ticket.resolution_used == 5400
        now.value = now.value.replace(hour=13)
        clocks = services.clocks(ticket=ticket, now=now.value)
    assert clocks["resolution"].used == 5400 + 2 * 3600
    assert clocks["resolution"].state(warn_at_percent=75) == "ok"
    assert clocks["first_response"].stopped
    assert clocks["first_response"].used == 3600
    # 16 h target - 1.5 h used = 14.5 h from Tuesday 11:00: Tue 6 h, Wed 8 h, Thu 0.5 h.
    item.refresh_from_db()
    assert item.sort_key == int(datetime(2026, 12, 3, 9, 30, tzinfo=UTC).timestamp())


def test_waiting_on_meta_pauses_and_the_outcome_stops_the_clock(
    monkeypatch, acme, acme_waba, acme_owner, staff_appeals
):
    now = Now(monkeypatch)
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {}), ("start_review", staff_appeals, {})])
    now.set("mon 12:00")
    ticket = move(
        ticket,
        acme,
        [
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-7"}),
        ],
    )
    now.set("wed 12:00")  # Meta takes two days: not staff's time
    ticket = move(ticket, acme, [("record_outcome", staff_appeals, {"outcome": "unchanged"})])
    with schema_context(acme.schema_name):
        ticket.refresh_from_db()
        clocks = services.clocks(ticket=ticket, now=at("fri 12:00"))
    assert ticket.resolution_used == 2 * 3600
    assert clocks["resolution"].state(warn_at_percent=75) == "met"
    item = WorkItem.objects.get(kind=WorkKind.APPEAL, client=acme, object_id=str(ticket.pk))
    assert item.sort_key == services.SORT_AFTER_OUTCOME


def test_the_staff_index_sorts_by_due_time_across_clients(
    monkeypatch, acme, globex, acme_waba, globex_waba, acme_owner, globex_owner, staff_appeals
):
    now = Now(monkeypatch)
    late = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    now.set("mon 09:00")
    early = move(
        open_appeal(globex, globex_waba, globex_owner), globex, [("submit", globex_owner, {})]
    )
    items = list(WorkItem.objects.filter(kind=WorkKind.APPEAL).order_by("sort_key", "id"))
    assert [(i.client_id, i.object_id) for i in items] == [
        (globex.pk, str(early.pk)),
        (acme.pk, str(late.pk)),
    ]


def test_breach_warnings_are_sent_once_per_due_time(
    monkeypatch, acme, acme_waba, acme_owner, staff_appeals
):
    Now(monkeypatch)
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    mail.outbox.clear()
    # 4 h first-response target from Monday 10:00: warn at 13:00 (75%), due 14:00.
    assert services.sla_warnings_send(now=at("mon 12:59")) == 0
    assert services.sla_warnings_send(now=at("mon 13:00")) == 1
    assert services.sla_warnings_send(now=at("mon 13:30")) == 0
    # An update that does not move the due time (a client message) does not re-arm the warning.
    with schema_context(acme.schema_name):
        services.appeal_message_post(ticket=ticket, actor=acme_owner, client=acme, body="Hi")
    assert services.sla_warnings_send(now=at("mon 13:40")) == 0
    assert services.sla_warnings_send(now=at("mon 14:00")) == 1
    assert services.sla_warnings_send(now=at("mon 15:00")) == 0
    assert emails_send() == 2  # the outbox of the public schema (the sweeper's work)
    assert [m.to for m in mail.outbox] == [[staff_appeals.email], [staff_appeals.email]]
    assert "first response is due by 2026-11-23 14:00 UTC" in mail.outbox[0].subject
    assert "first response is past its SLA" in mail.outbox[1].subject
    assert f"AP-{ticket.pk}" in mail.outbox[1].subject


def test_due_times_are_shown_in_the_business_time_zone_with_its_name(
    monkeypatch, settings, web, acme, acme_waba, acme_owner, staff_appeals
):
    settings.APPEALS_TIME_ZONE = "Europe/Berlin"
    Now(monkeypatch)  # Monday 10:00 UTC, 11:00 in Berlin
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    mail.outbox.clear()

    # 4 business hours from 11:00 Berlin time: 15:00 Berlin time (14:00 UTC).
    inbox = web(None, staff_appeals).get("/staff/appeals/").content.decode()
    assert "first response by 2026-11-23 15:00 Europe/Berlin" in inbox
    staff_page = web(None, staff_appeals).get(f"/staff/appeals/acme/{ticket.pk}/").content.decode()
    assert "due 2026-11-23 15:00 Europe/Berlin" in staff_page
    client_page = web(acme, acme_owner).get(f"/appeals/{ticket.pk}/").content.decode()
    assert "due 2026-11-23 15:00 Europe/Berlin" in client_page
    services.sla_warnings_send(now=at("mon 13:00"))
    with schema_context("public"):  # staff notices wait in the public schema's outbox
        emails_send()
    assert "first response is due by 2026-11-23 15:00 Europe/Berlin" in mail.outbox[0].subject


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [
        (datetime(2026, 3, 29), 11),  # clocks go forward at 02:00: the day is an hour short
        (datetime(2026, 10, 25), 13),  # clocks go back at 03:00: the day is an hour long
    ],
)
def test_business_time_counts_real_time_across_a_daylight_saving_change(day, real_hours):
    from zoneinfo import ZoneInfo

    hours = sla.BusinessHours.parse(hours="00:00-12:00", days=["sun"], tz="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    opens = day.replace(tzinfo=berlin).astimezone(UTC)
    closes = day.replace(hour=12, tzinfo=berlin).astimezone(UTC)

    assert sla.business_seconds_between(opens, closes, hours) == real_hours * 3600
    assert sla.add_business_seconds(opens, real_hours * 3600, hours) == closes
    assert sla.add_business_seconds(opens, 3 * 3600, hours) == opens + timedelta(hours=3)


def test_a_warning_does_not_undo_a_change_made_to_the_appeal_meanwhile(
    monkeypatch, acme, acme_waba, acme_owner, staff_appeals, staff_manager
):
    Now(monkeypatch)
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    from integrations import notify

    real_queue = notify.email_queue

    def queue_while_staff_assign(**kwargs):
        # Staff assign the appeal while the warning is being queued.
        with schema_context(acme.schema_name):
            services.appeal_assign(
                ticket=ticket, actor=staff_appeals, client=acme, assignee=staff_manager
            )
        return real_queue(**kwargs)

    monkeypatch.setattr(notify, "email_queue", queue_while_staff_assign)
    assert services.sla_warnings_send(now=at("mon 13:00")) == 1

    item = WorkItem.objects.get(kind=WorkKind.APPEAL, client=acme, object_id=str(ticket.pk))
    assert (item.data["assignee"], item.data["warned_for"]) == (staff_manager.email, item.sort_key)


def test_the_inbox_tells_a_paused_clock_from_a_stopped_one(
    web, acme, acme_waba, acme_owner, staff_appeals
):
    waiting = move(
        open_appeal(acme, acme_waba, acme_owner),
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("request_info", staff_appeals, {"question": "More?"}),
        ],
    )
    decided = move(
        open_appeal(acme, acme_waba, acme_owner, title="Decided one"),
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-3"}),
            ("record_outcome", staff_appeals, {"outcome": "unchanged"}),
        ],
    )
    inbox = web(None, staff_appeals).get("/staff/appeals/").content.decode()

    rows = {
        t.pk: inbox.split(f"/staff/appeals/acme/{t.pk}/")[1].split("</tr>")[0]
        for t in (waiting, decided)
    }
    assert '<span class="badge sla-paused">Paused</span>' in rows[waiting.pk]
    assert '<span class="badge sla-stopped">Clock stopped</span>' in rows[decided.pk]


def test_a_warning_for_an_assignee_who_left_goes_to_the_appeals_agents(
    monkeypatch, acme, acme_waba, acme_owner, staff_appeals
):
    from tests.factories import UserFactory

    Now(monkeypatch)
    gone = UserFactory(is_staff=True, staff_role="appeals_agent")
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    with schema_context(acme.schema_name):
        services.appeal_assign(ticket=ticket, actor=staff_appeals, client=acme, assignee=gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    mail.outbox.clear()

    assert services.sla_warnings_send(now=at("mon 13:00")) == 1
    assert emails_send() == 1
    assert [m.to for m in mail.outbox] == [[staff_appeals.email]]
