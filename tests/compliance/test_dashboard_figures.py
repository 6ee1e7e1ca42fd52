"""Issue 14, point 3 (defect 3): the dashboard shows live figures (open appeals with the next due
time, consent, paused templates' time left, Meta's scheduled ban), only the client's own, in a
fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import choices as c
from compliance.dashboard import ban_date_parse
from compliance.models import WhatsAppAccount
from templates_review.choices import ReviewState
from tests.factories import (
    ConsentEventFactory,
    ConsentStateFactory,
    ContactFactory,
    MessageTemplateFactory,
)
from tests.factories.appeals import AppealTicketFactory


def _world(client, waba, *, contacts: int, appeals: int, paused: int, tag: str = ""):
    now = timezone.now()
    with schema_context(client.schema_name):
        for i in range(contacts):
            contact = ContactFactory()
            ConsentStateFactory(contact=contact, category=c.ConsentCategory.MARKETING)
            if i % 2:
                ConsentStateFactory(contact=contact, category=c.ConsentCategory.UTILITY)
            ConsentEventFactory(
                contact=contact, kind=c.ConsentKind.OPT_OUT, occurred_at=now - timedelta(days=i * 3)
            )
        for i in range(appeals):
            AppealTicketFactory(
                account=waba,
                title=f"Appeal {i}",
                status="waiting_on_client" if i == 0 else "submitted",
                appeal_deadline=now + timedelta(days=10 + i),
            )
        AppealTicketFactory(account=waba, title="Closed one", status="closed")
        for i in range(paused):
            MessageTemplateFactory(
                name=f"paused_{tag}{i}",
                review_state=ReviewState.SENT_TO_META,
                meta_id=f"90{tag}{i}",
                meta_status="paused",
                pause_count=1,
                paused_until=now + timedelta(hours=3 + i, minutes=5),
            )


def test_the_dashboard_shows_the_clients_live_figures(web, acme, acme_waba, acme_owner):
    _world(acme, acme_waba, contacts=4, appeals=2, paused=1)

    response = web(acme, acme_owner).get("/")

    page = response.content.decode()
    assert response.context["consent"] == {
        "contacts": 4,
        "opted_in": [
            ("marketing", "Marketing", 4),
            ("utility", "Utility", 2),
            ("authentication", "Authentication", 0),
        ],
        "opt_outs_7d": 3,  # 0, 3 and 6 days ago; not 9
    }
    appeals = response.context["appeals"]
    assert (appeals["open"], appeals["waiting_on_you"], appeals["drafts"]) == (2, 1, 0)
    assert [t.title for t in appeals["due"]] == ["Appeal 0", "Appeal 1"]
    assert "No open appeals" not in page
    assert "9 d 23 h left" in page
    assert "3 h 4 min left" in page  # the paused template's time left
    assert "paused_0" in page


def test_an_empty_client_gets_the_empty_states(web, globex, globex_owner):
    page = web(globex, globex_owner).get("/").content.decode()

    assert "No open appeals" in page
    assert "No contacts yet" in page


def test_another_clients_figures_never_show(web, acme, globex, globex_waba, acme_owner):
    _world(globex, globex_waba, contacts=3, appeals=2, paused=1)

    response = web(acme, acme_owner).get("/")

    assert response.context["consent"]["contacts"] == 0
    assert response.context["appeals"]["open"] == 0
    assert b"paused_0" not in response.content


def test_meta_scheduled_ban_shows_a_countdown(web, acme, acme_waba, acme_owner):
    on = (timezone.now() + timedelta(days=12)).date()
    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.filter(pk=acme_waba.pk).update(
            ban_state="scheduled_for_disable", ban_date=on.strftime("%B %d, %Y")
        )

    page = web(acme, acme_owner).get("/").content.decode()

    assert 'id="ban-countdown"' in page
    assert "Disabled on <time datetime=" in page
    assert on.isoformat() in page
    assert " d " in page.split('class="countdown">', 1)[1].split("</span>", 1)[0]


def test_a_waba_both_scheduled_for_a_ban_and_stopped_shows_in_both(
    web, acme, acme_waba, globex_waba, acme_owner
):
    """The scheduled bans and the WABAs that stopped syncing are read in one query: each
    account where it belongs, an active one with no ban in neither."""
    from compliance.dashboard import accounts_of_note

    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.filter(pk=acme_waba.pk).update(
            ban_state="scheduled_for_disable", ban_date="", connection_state="partner_removed"
        )
        bans, paused = accounts_of_note()
        assert [b.account.pk for b in bans] == [acme_waba.pk]
        assert [a.pk for a in paused] == [acme_waba.pk]
        WhatsAppAccount.objects.filter(pk=acme_waba.pk).update(connection_state="active")
        bans, paused = accounts_of_note()
        assert ([b.account.pk for b in bans], paused) == ([acme_waba.pk], [])
        WhatsAppAccount.objects.filter(pk=acme_waba.pk).update(ban_state="none")
        assert accounts_of_note() == ([], [])

    page = web(acme, acme_owner).get("/").content.decode()
    assert 'id="ban-countdown"' not in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [("April 17, 2025", "2025-04-17"), ("2025-04-17", "2025-04-17"), ("1744848000", "2025-04-17")],
)
def test_metas_free_text_ban_date_is_read(text, expected):
    assert ban_date_parse(text).date().isoformat() == expected


def test_an_unreadable_ban_date_is_none():
    assert ban_date_parse("soon") is None


def test_the_dashboard_reads_in_a_fixed_number_of_queries(
    web, acme, acme_waba, acme_owner, django_assert_num_queries
):
    http = web(acme, acme_owner)
    _world(acme, acme_waba, contacts=1, appeals=1, paused=1)
    http.get("/")  # warm the session
    with django_assert_num_queries(QUERIES) as few:
        http.get("/")
    _world(acme, acme_waba, contacts=6, appeals=3, paused=3, tag="9")
    with django_assert_num_queries(len(few.captured_queries)):
        http.get("/")


# search_path and host (2), schema, session, user, memberships (access and the switcher),
# numbers, alerts, sync run, template counts; then the live figures: the appeals' and consent's
# counts (one), the appeals due next, paused, the WABAs with a scheduled ban or that stopped
# syncing (one), the portfolio gauge. None grows with rows (the second half of the test).
QUERIES = 15


def test_the_opt_out_count_reads_the_opt_out_index_not_the_whole_history(acme):
    from django.db import connection

    from compliance.dashboard import recent_opt_outs

    with schema_context(acme.schema_name), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table is scanned otherwise
        plan = recent_opt_outs(now=timezone.now()).explain()
    assert "consent_event_opt_out_time" in plan
    assert "Seq Scan" not in plan
