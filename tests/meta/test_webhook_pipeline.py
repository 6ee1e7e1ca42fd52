"""The webhook pipeline: poison never stalls the rest, a failing change isolated in a savepoint of
its own, retries with backoff, leases that survive a dead worker, exactly-once effects under
replays."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import HealthEvent
from portal.meta import services
from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from portal.meta.webhooks import pipeline
from portal.meta.webhooks.contract import WebhookRejected
from portal.meta.webhooks.fields import parse_messages
from tests.assets import ACME_WABA, GLOBEX_WABA
from tests.webhooks import body_of, envelope, post

REVIEW = {"decision": "APPROVED"}


def probe(n: int, **extra) -> dict:
    return envelope(ACME_WABA, "probe_effect", {"n": n, **extra}, time=1_763_000_000 + n)


def oba_rejected(n: int, description: str) -> dict:
    """An `account_alerts` notice (a warning that sets no state of the account)."""
    return envelope(
        ACME_WABA,
        "account_alerts",
        {
            "entity_type": "WABA",
            "entity_id": ACME_WABA,
            "alert_info": {
                "alert_severity": "WARNING",
                "alert_status": "ACTIVE",
                "alert_type": "OBA_REJECTED",
                "alert_description": description,
            },
        },
        time=1_763_000_000 + n,
    )


def store(payload_or_body) -> int:
    body = payload_or_body if isinstance(payload_or_body, bytes) else body_of(payload_or_body)
    delivery_id = services.webhook_delivery_store(body=body)
    assert delivery_id is not None
    return delivery_id


def events(client) -> int:
    with schema_context(client.schema_name):
        return HealthEvent.objects.count()


@pytest.fixture
def effect_log(tmp_path, monkeypatch):
    path = tmp_path / "effects.log"
    monkeypatch.setenv("TEST_WEBHOOK_EFFECT_LOG", str(path))

    def read() -> list[int]:
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    return read


# --- poison ----------------------------------------------------------------------------------

DEEP = b'{"object":"whatsapp_business_account","entry":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
POISON = {
    "not json": (b"{nope", "The body is not JSON"),
    "not utf-8": (b'{"object": "\xff"}', "The body is not UTF-8"),
    "10,000 deep": (DEEP, "nested too deeply"),
    "a list": (b"[1, 2]", "a JSON list, not an object"),
    "object page": (b'{"object": "page", "entry": []}', "`object` is 'page'"),
    "no object": (b'{"entry": []}', "`object` is missing"),
    "entry an object": (
        b'{"object": "whatsapp_business_account", "entry": {"id": "1"}}',
        "`entry` is a dict, not a list",
    ),
}
POISON_CHANGES = {
    "changes an object": (
        {"id": ACME_WABA, "changes": {"field": "account_update"}},
        "changes is a dict, not a list",
    ),
    "over-long id": (
        {"id": "9" * 200, "changes": [{"field": "account_update", "value": {}}]},
        "not an id",
    ),
    "time out of range": (
        {"id": ACME_WABA, "time": 10**15, "changes": [{"field": "account_update", "value": {}}]},
        "out of range",
    ),
    "NUL in a string": (
        {"id": ACME_WABA, "changes": [{"field": "account_update", "value": {"event": "A\x00"}}]},
        "a NUL character",
    ),
    "lone surrogate": (
        {"id": ACME_WABA, "changes": [{"field": "account_update", "value": {"event": "\ud800"}}]},
        "a lone surrogate",
    ),
    "value a list": (
        {"id": ACME_WABA, "changes": [{"field": "account_update", "value": [1]}]},
        "value is a list, not an object",
    ),
    # More parts than a parser walks: refused at the split, so a stored value never is.
    "200,001 parts": (
        {"id": ACME_WABA, "changes": [{"field": "messages", "value": {"x": [0] * 200_000}}]},
        "has more than 200000 parts",
    ),
    # Python's JSON reads NaN and Infinity; PostgreSQL's jsonb cannot hold them, so such a
    # change failed the whole batch's INSERT and the batch was split again one by one.
    "NaN": (
        {"id": ACME_WABA, "changes": [{"field": "account_update", "value": {"n": float("nan")}}]},
        "not a number JSON can store",
    ),
    "Infinity": (
        {
            "id": ACME_WABA,
            "changes": [{"field": "account_update", "value": {"n": [-float("inf")]}}],
        },
        "not a number JSON can store",
    ),
}


@pytest.mark.parametrize("name", POISON)
def test_a_body_that_is_not_a_meta_delivery_is_kept_rejected_and_stalls_nothing(
    name, acme, acme_waba, web
):
    body, reason = POISON[name]
    assert post(web(), body).status_code == 200  # verified and stored: Meta must not retry it
    good = store(envelope(ACME_WABA, "account_review_update", REVIEW))

    services.webhook_process_pending()

    poison = WebhookDelivery.objects.exclude(pk=good).get()
    assert poison.state == DeliveryState.REJECTED
    assert reason in poison.last_error
    assert bytes(poison.body) == body
    assert WebhookDelivery.objects.get(pk=good).state == DeliveryState.PROCESSED
    assert events(acme) == 1
    assert services.webhook_process_pending() == 0  # never retried in a loop


@pytest.mark.parametrize("name", POISON_CHANGES)
def test_a_bad_entry_or_change_is_rejected_alone(name, acme, acme_waba):
    entry, reason = POISON_CHANGES[name]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            entry,
            {
                "id": ACME_WABA,
                "time": 1_763_000_000,
                "changes": [{"field": "account_review_update", "value": REVIEW}],
            },
        ],
    }
    delivery_id = store(json.dumps(payload).encode("utf-8", "surrogatepass"))

    counts = services.webhook_delivery_process(delivery_id=delivery_id)

    assert (counts["applied"], counts["rejected"]) == (1, 1)
    rejected = WebhookChange.objects.get(state=ChangeState.REJECTED)
    assert reason in rejected.error
    assert WebhookDelivery.objects.get(pk=delivery_id).state == DeliveryState.PROCESSED
    assert events(acme) == 1


def test_the_apply_parses_a_stored_value_without_walking_it_again(acme, acme_number):
    """The split screened every value it stored (`envelope.storable` refuses all the parsers'
    tree check does); the apply's parse used to walk each value again, string by string."""
    from unittest import mock

    from compliance.models import MessageStatus
    from portal.meta.webhooks.fields import _read

    statuses = [
        {"id": f"wamid.s{n}", "status": "sent", "timestamp": "1763000000", "recipient_id": "447"}
        for n in range(3)
    ]
    value = {"metadata": {"phone_number_id": acme_number.meta_id}, "statuses": statuses}
    store(envelope(ACME_WABA, "messages", value))
    pipeline.deliveries_split()
    with mock.patch.object(_read, "_chars_problem", wraps=_read._chars_problem) as walked:
        assert pipeline.changes_apply().applied == 1
    assert walked.call_count == 0
    with schema_context(acme.schema_name):
        assert MessageStatus.objects.count() == 3
    # Outside the pipeline a parser still walks what it is given.
    with pytest.raises(WebhookRejected, match="NUL"):
        parse_messages({**value, "x": "\x00"})


def test_poison_changes_among_good_ones_in_one_drain(acme, acme_waba, effect_log):
    for n in range(20):
        store(probe(n))
    for name in POISON_CHANGES:
        payload = {"object": "whatsapp_business_account", "entry": [POISON_CHANGES[name][0]]}
        store(json.dumps({**payload, "i": name}).encode())  # \ud800 escaped, as Meta would
    for name in POISON:
        store(POISON[name][0])

    services.webhook_process_pending()

    assert sorted(effect_log()) == list(range(20))
    assert not WebhookChange.objects.filter(next_attempt_at__isnull=False).exists()
    assert not WebhookDelivery.objects.exclude(
        state__in=[DeliveryState.PROCESSED, DeliveryState.REJECTED]
    ).exists()


# --- isolation and retries -------------------------------------------------------------------


def test_a_failing_change_is_retried_alone_and_the_rest_of_its_delivery_goes_on(
    acme, acme_waba, effect_log
):
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": ACME_WABA,
                "time": 1_763_000_000,
                "changes": [
                    {"field": "probe_effect", "value": {"n": 1, "fail": "bug in the applier"}},
                    {"field": "probe_effect", "value": {"n": 2}},
                ],
            }
        ],
    }
    delivery_id = store(payload)

    counts = services.webhook_delivery_process(delivery_id=delivery_id)

    assert (counts["applied"], counts["failed"]) == (1, 1)
    failed = WebhookChange.objects.get(state=ChangeState.FAILED)
    assert failed.error == "RuntimeError: bug in the applier"
    assert failed.next_attempt_at > timezone.now() + timedelta(seconds=20)  # backoff
    assert WebhookDelivery.objects.get().state == DeliveryState.SPLIT  # not finished yet

    for _ in range(pipeline.PERMANENT_ATTEMPTS - 1):
        WebhookChange.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
        services.webhook_process_pending()

    failed.refresh_from_db()
    assert (failed.state, failed.next_attempt_at, failed.attempts) == (
        ChangeState.FAILED,
        None,
        pipeline.PERMANENT_ATTEMPTS,
    )
    assert WebhookDelivery.objects.get().state == DeliveryState.PROCESSED  # failed for good
    assert effect_log().count(2) == 1


def probe_timing_out(monkeypatch, times: int) -> list[str]:
    """The probe field's applier hits a statement timeout on its first `times` calls; returns
    the keys it was called with."""
    import psycopg.errors
    from django.db import OperationalError

    from tests.webhook_probe import handlers

    calls: list[str] = []

    def timing_out(change):
        calls.append(change.key)
        if len(calls) <= times:
            try:
                raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
            except psycopg.errors.QueryCanceled as exc:
                raise OperationalError(str(exc)) from exc
        return handlers.apply(change)

    monkeypatch.setattr(
        "portal.meta.webhooks.contract._HANDLERS",
        {
            "probe_effect": pipeline.handler_for("probe_effect").__class__(
                handlers.parse, timing_out
            )
        },
    )
    return calls


def test_a_transient_error_is_retried_soon_and_then_applied(acme, acme_waba, monkeypatch):
    calls = probe_timing_out(monkeypatch, 2)  # once with the client's group, once on its own
    store(probe(7))

    services.webhook_process_pending()
    change = WebhookChange.objects.get()
    assert len(calls) == 2
    assert change.state == ChangeState.PENDING
    assert "statement timeout" in change.error
    assert change.next_attempt_at < timezone.now() + timedelta(seconds=3)

    WebhookChange.objects.update(next_attempt_at=timezone.now())
    services.webhook_process_pending()

    change.refresh_from_db()
    assert (change.state, change.error, change.next_attempt_at) == (ChangeState.APPLIED, "", None)
    assert WebhookDelivery.objects.get().state == DeliveryState.PROCESSED


def test_a_transient_error_of_the_group_is_tried_again_alone_at_once(
    acme, acme_waba, monkeypatch, effect_log
):
    """A lock or statement timeout of the client's one savepoint says nothing of which change
    caused it: each is tried again in its own, and what applies is applied."""
    calls = probe_timing_out(monkeypatch, 1)
    for n in range(3):
        store(probe(n))

    services.webhook_process_pending()

    assert set(WebhookChange.objects.values_list("state", flat=True)) == {ChangeState.APPLIED}
    assert len(calls) == 1 + 3  # the group's first, then each alone


def test_a_clients_changes_apply_in_one_savepoint_when_none_fails(acme, acme_waba, effect_log):
    """A savepoint per change is two round trips each: a batch that applies cleanly takes the
    same few savepoints however many changes it holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def savepoints(count: int) -> int:
        for n in range(count):
            store(probe(1_000 * count + n))
        pipeline.deliveries_split()
        with CaptureQueriesContext(connection) as queries:
            pipeline.changes_apply()
        return sum(1 for q in queries if q["sql"].startswith("SAVEPOINT"))

    assert savepoints(3) == savepoints(30)
    assert sorted(effect_log()) == sorted(
        [3_000 + n for n in range(3)] + [30_000 + n for n in range(30)]
    )


def test_a_claim_never_takes_a_client_another_worker_holds(
    acme, acme_waba, globex, globex_waba, effect_log, monkeypatch
):
    """Two workers on one client's changes would wait on each other's row locks (its account,
    its numbers) for a whole batch, and could not keep Meta's order between them."""
    from tests.assets import GLOBEX_WABA

    store(probe(1))
    pipeline.deliveries_split()
    first = pipeline.changes_claim(limit=1)  # worker A holds Acme ...
    store(probe(2))
    store(envelope(GLOBEX_WABA, "probe_effect", {"n": 3}, time=1_763_000_003))
    pipeline.deliveries_split()

    second = pipeline.changes_claim()  # ... so worker B takes Globex's change, not Acme's

    claimed = WebhookChange.objects.in_bulk(first + second)
    assert [claimed[pk].client_id for pk in first] == [acme.pk]
    assert [claimed[pk].client_id for pk in second] == [globex.pk]
    assert set(pipeline.changes_claim()) == set()  # Acme's second waits for A's lease


def test_a_claim_takes_at_most_its_share_of_clients(
    acme, acme_waba, globex, globex_waba, effect_log, monkeypatch
):
    from tests.assets import GLOBEX_WABA

    monkeypatch.setattr(pipeline, "CLAIM_CLIENTS", 1)
    store(probe(1))
    store(envelope(GLOBEX_WABA, "probe_effect", {"n": 2}, time=1_763_000_002))
    store(probe(3))
    pipeline.deliveries_split()

    first = WebhookChange.objects.in_bulk(pipeline.changes_claim())
    second = WebhookChange.objects.in_bulk(pipeline.changes_claim())

    assert {c.client_id for c in first.values()} == {acme.pk}
    assert len(first) == 2
    assert {c.client_id for c in second.values()} == {globex.pk}


def test_a_dead_workers_claim_is_taken_up_when_its_lease_runs_out(acme, acme_waba, effect_log):
    store(probe(3))
    pipeline.deliveries_split()
    claimed = pipeline.changes_claim()  # ... and the worker dies before applying
    assert len(claimed) == 1

    assert not services.webhook_sweep()  # the lease is still live: nobody else takes it
    assert pipeline.changes_apply().claimed == 0

    WebhookChange.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert services.webhook_sweep().changes == claimed
    services.webhook_process_pending()

    change = WebhookChange.objects.get()
    assert (change.state, change.attempts) == (ChangeState.APPLIED, 2)
    assert effect_log() == [3]


def test_a_change_that_kills_its_worker_every_time_fails_for_good(acme, acme_waba, effect_log):
    store(probe(4))
    pipeline.deliveries_split()
    WebhookChange.objects.update(attempts=pipeline.MAX_CLAIMS)

    services.webhook_process_pending()

    change = WebhookChange.objects.get()
    assert change.state == ChangeState.FAILED
    assert "the worker applying it stopped" in change.error
    assert effect_log() == []


# --- exactly once ----------------------------------------------------------------------------


def test_replays_rebatched_and_shuffled_apply_each_change_once(acme, acme_waba, effect_log):
    changes = [
        {
            "id": ACME_WABA,
            "time": 1_763_000_000 + n,
            "changes": [{"field": "probe_effect", "value": {"n": n}}],
        }
        for n in range(30)
    ]
    rng = random.Random(12)
    bodies = []
    for n, entry in enumerate(changes):
        for copy in range(rng.randint(1, 5)):
            others = rng.sample(changes, 2)  # Meta re-batches retries with other changes
            payload = {
                "object": "whatsapp_business_account",
                "entry": [entry, *others],
                "copy": f"{n}-{copy}",  # a different body each time
            }
            bodies.append(body_of(payload))
    rng.shuffle(bodies)
    for body in bodies:
        store(body)

    services.webhook_process_pending()

    assert sorted(effect_log()) == list(range(30))
    assert WebhookChange.objects.filter(state=ChangeState.APPLIED).count() == 30
    assert not WebhookDelivery.objects.exclude(state=DeliveryState.PROCESSED).exists()


def test_the_same_body_twice_is_stored_once(db):
    body = body_of(envelope(ACME_WABA, "account_review_update", REVIEW))
    assert services.webhook_delivery_store(body=body) is not None
    assert services.webhook_delivery_store(body=body) is None


# --- staff -----------------------------------------------------------------------------------


def test_staff_see_changes_grouped_with_their_reason_and_the_raw_body(
    web, staff_super, acme, acme_waba
):
    for n in range(3):
        store(envelope("5550000000", "account_update", {"event": "X", "n": n}))
    store(b'{"object": "page", "entry": [], "<script>": 1}')
    services.webhook_process_pending()
    http = web(None, staff_super)

    page = http.get("/staff/webhooks/?state=unroutable").content.decode()
    assert "No client owns WABA 5550000000." in page
    assert '<td class="num">3' in page  # three identical rows, one group

    delivery = WebhookDelivery.objects.get(state=DeliveryState.REJECTED)
    listed = http.get("/staff/webhooks/?view=deliveries&state=rejected").content.decode()
    assert f"#{delivery.pk}" in listed
    assert "`object` is &#x27;page&#x27;" in listed
    raw = http.get(f"/staff/webhooks/deliveries/{delivery.pk}/").content.decode()
    assert "&quot;&lt;script&gt;&quot;" in raw  # the raw body, escaped


def test_staff_retry_after_linking_the_waba_and_dismiss(web, staff_super, acme, globex):
    from compliance.services import account_link

    store(envelope("5550000001", "account_review_update", REVIEW))
    store(envelope("5550000002", "account_review_update", REVIEW))
    services.webhook_process_pending()
    first, second = WebhookChange.objects.order_by("id")
    http = web(None, staff_super)

    account_link(client=acme, waba_id="5550000001")
    assert http.post(f"/staff/webhooks/{first.pk}/retry/").status_code == 302
    assert http.post(f"/staff/webhooks/{second.pk}/dismiss/").status_code == 302

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.client_id, second.state) == ("applied", acme.pk, "dismissed")
    assert (events(acme), events(globex)) == (1, 0)
    assert not WebhookDelivery.objects.exclude(state=DeliveryState.PROCESSED).exists()


def test_the_client_filter_lists_every_client_by_name_escaped_with_the_chosen_one_selected(
    web, staff_super, acme, globex
):
    """The options are written in Python (a template loop over a thousand clients was most of
    the page's time): the same markup the loop wrote."""
    from tenants.models import Client

    Client.objects.filter(pk=acme.pk).update(name='Acme <Retail> & "Sons"')
    page = web(None, staff_super).get(f"/staff/webhooks/?client={globex.pk}").content.decode()

    picker = page.split('<select name="client">', 1)[1].split("</select>", 1)[0]
    assert picker == (
        '<option value="">Any client</option>'
        f'<option value="{acme.pk}">Acme &lt;Retail&gt; &amp; &quot;Sons&quot;</option>'
        f'<option value="{globex.pk}" selected>Globex Logistics</option>'
    )


@pytest.mark.parametrize(
    "path", ["/staff/webhooks/", "/staff/webhooks/?view=deliveries", "/staff/webhooks/1/retry/"]
)
def test_client_users_cannot_reach_the_webhook_pages(web, acme, acme_owner, path):
    store(envelope("5550000003", "account_review_update", REVIEW))
    response = (
        web(None, acme_owner).get(path) if "retry" not in path else web(None, acme_owner).post(path)
    )
    assert response.status_code in (403, 404, 405)
    assert WebhookChange.objects.filter(state=ChangeState.DISMISSED).count() == 0
    # and from a client's own host the staff pages do not exist at all
    assert web(acme, acme_owner).get("/staff/webhooks/").status_code == 404


def test_a_clients_events_fan_out_together_with_the_same_effects(acme, acme_waba, acme_owner):
    """Each account event of a client group used to fan out on its own (its alert, e-mail,
    outbound webhooks, endpoint look-up): about five queries an event. They now leave together
    at the end of the group, in its transaction: the same alerts, e-mails and outbox rows,
    with the endpoints read once however many events the group holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.models import Alert
    from integrations.choices import health_event_type
    from integrations.models import WebhookDelivery as Outbox
    from integrations.models import WebhookEndpoint
    from integrations.notify import OutboundEmail

    with schema_context(acme.schema_name):
        WebhookEndpoint.objects.create(url="https://hooks.example.com/in", secret_encrypted="x")

    def group(count: int, start: int) -> int:
        for n in range(start, start + count):
            store(oba_rejected(n, f"alert {n}"))
        pipeline.deliveries_split()
        with CaptureQueriesContext(connection) as queries:
            counts = pipeline.changes_apply()
        assert counts.applied == count
        return sum(1 for q in queries if "integrations_webhookendpoint" in q["sql"])

    assert group(3, 0) == group(12, 100) == 1

    with schema_context(acme.schema_name):
        alerts = Alert.objects.select_related("event")
        assert alerts.count() == 15
        assert all(a.emailed_at is not None for a in alerts)  # the owner is told at once
        assert OutboundEmail.objects.count() == 15
        types = sorted(Outbox.objects.values_list("event_type", flat=True))
        assert types == sorted([health_event_type(alerts[0].event.kind), "alert.raised"] * 15)
        raised = Outbox.objects.filter(event_type="alert.raised").values_list("payload", flat=True)
        assert {p["data"]["alert_id"] for p in raised} == {a.pk for a in alerts}


def test_a_failing_group_fans_out_only_what_is_applied_alone(acme, acme_waba, effect_log):
    """A group that raises is rolled back with the events it had recorded; applied again one
    change at a time, the good changes' events are recorded and fanned out once."""
    from compliance.models import Alert

    payload = envelope(ACME_WABA, "account_review_update", {"decision": "REJECTED"})
    store(payload)
    store(probe(1, fail="bug in the applier"))

    services.webhook_process_pending()

    with schema_context(acme.schema_name):
        assert HealthEvent.objects.filter(kind="review_decision").count() == 1
        assert Alert.objects.filter(event__kind="review_decision").count() == 1
    assert WebhookChange.objects.filter(state=ChangeState.FAILED).count() == 1


def test_a_clients_account_is_read_once_per_group_and_keeps_metas_order(acme, acme_waba):
    """Every account change used to read its account again (a query each). A group reads it
    once and the appliers write through that instance, so the newest decision by Meta's time
    still wins whatever order the changes come in, and the older ones are recorded late."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.models import WhatsAppAccount

    def group(decisions: list[tuple[int, str]]) -> int:
        for at, decision in decisions:
            store(envelope(ACME_WABA, "account_review_update", {"decision": decision}, time=at))
        pipeline.deliveries_split()
        with CaptureQueriesContext(connection) as queries:
            assert pipeline.changes_apply().claimed == len(decisions)
        return sum(
            1
            for q in queries
            if q["sql"].startswith('SELECT "compliance_whatsappaccount"')
            and "FOR UPDATE" not in q["sql"]
        )

    times = [1_763_000_000 + n for n in range(12)]
    shuffled = times[:]
    random.Random(4).shuffle(shuffled)
    newest = max(times)
    decisions = [(t, "APPROVED" if t == newest else "REJECTED") for t in shuffled]

    assert group(decisions[:3]) == 1
    assert group(decisions[3:]) == 1
    with schema_context(acme.schema_name):
        account = WhatsAppAccount.objects.get(meta_id=ACME_WABA)
        assert account.review_status == "approved"
        assert account.review_status_at.timestamp() == newest
    # A group applies in Meta's order; the second group's changes older than the first
    # group's newest are late.
    first_newest = max(t for t, _ in decisions[:3])
    late = WebhookChange.objects.filter(state=ChangeState.LATE).count()
    assert late == sum(1 for t, _ in decisions[3:] if t < first_newest)


def test_a_group_reads_which_number_has_which_digits_once_and_each_known_number_fresh(
    acme, acme_waba, acme_number, globex, globex_waba
):
    """Number changes name a display number: each one read all the account's numbers. A group
    reads the account's directory once; a change about a number the portal has not synced
    costs no read of numbers, and one about a known number reads that number as it is now
    (other appliers write numbers through querysets)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.appliers.common import accounts_kept_for_group, number_by_display
    from compliance.models import PhoneNumber

    def quality(n: int, display: str, waba: str = ACME_WABA) -> dict:
        value = {"display_phone_number": display, "event": "FLAGGED", "current_limit": "TIER_1K"}
        return envelope(waba, "phone_number_quality_update", value, time=1_763_000_000 + n)

    for n in range(4):
        store(quality(n, f"1555999000{n}"))  # not synced
    store(quality(10, "15550100001"))  # acme_number, in other spelling
    store(quality(11, "15550100001", waba=GLOBEX_WABA))  # globex has no such number
    pipeline.deliveries_split()
    with CaptureQueriesContext(connection) as queries:
        assert pipeline.changes_apply().applied == 6
    reads = [q["sql"] for q in queries if 'FROM "compliance_phonenumber"' in q["sql"]]
    # The two directories, and acme's one known number, read as it is now.
    assert len(reads) == 3
    assert sum(1 for sql in reads if 'AS "pk"' in sql) == 2
    with schema_context(acme.schema_name):
        number = PhoneNumber.objects.get(pk=acme_number.pk)
        assert (number.status, number.messaging_limit) == ("flagged", "tier_1k")
        assert HealthEvent.objects.filter(title__contains="not yet synced").count() == 4
        # Inside a group, a number written through a queryset is read as it is now.
        with accounts_kept_for_group():
            assert number_by_display(acme_waba, "+1 555-010-0001").status == "flagged"
            PhoneNumber.objects.filter(pk=number.pk).update(status="connected")
            assert number_by_display(acme_waba, "1 (555) 010 0001").status == "connected"
            assert number_by_display(acme_waba, "+1 555 010 0002") is None
    with schema_context(globex.schema_name):
        assert not PhoneNumber.objects.exists()
        assert HealthEvent.objects.filter(title__contains="not yet synced").count() == 1


@pytest.mark.parametrize(
    "value",
    [
        {"statuses": [{"id": "wamid.1", "status": "read", "timestamp": "1763000000"}]},
        {"b": 1, "a": [1.5, None, True, {"z": "é ✋ \u2028", "y": -(10**20)}]},
        {},
    ],
)
@pytest.mark.parametrize("raw_time", [None, 1763000000, "1763000000"])
def test_a_changes_dedupe_key_is_the_hash_of_its_parts_as_one_canonical_list(value, raw_time):
    """The split serialises the value once and splices it into the key's text; the key must be
    the very one of serialising the whole list (keys stored before stay valid)."""
    import hashlib

    from portal.meta.webhooks import envelope as env

    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "123", "changes": [{"field": "messages", "value": value}]}],
    }
    if raw_time is not None:
        payload["entry"][0]["time"] = raw_time
    (change,) = env.split(payload)
    whole = json.dumps(
        ["messages", "123", raw_time, value], sort_keys=True, separators=(",", ":"), default=str
    )
    assert change.dedupe_key == hashlib.sha256(whole.encode()).hexdigest()
    assert json.loads(change.value_json) == value


def test_a_group_reads_its_client_once_and_a_notice_does_not_lock_the_account(
    acme, acme_waba, acme_owner
):
    """The claim reads the clients once; the group's alerts (their e-mail rule and link) used
    to read the client again, and an account event that sets no state (a badge, a notice) read
    the account locked for nothing. Both still raise their alerts."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        store(oba_rejected(n, f"notice {n}"))
    pipeline.deliveries_split()
    with CaptureQueriesContext(connection) as queries:
        assert pipeline.changes_apply().applied == 3
    sql = [q["sql"] for q in queries]
    assert sum(1 for s in sql if 'FROM "tenants_client"' in s) == 1  # the claim's
    assert not [s for s in sql if "compliance_whatsappaccount" in s and "FOR UPDATE" in s]
    with schema_context(acme.schema_name):
        from compliance.models import Alert

        assert Alert.objects.filter(event__title__contains="Official Business Account").count() == 3


def _plans_of(statements: list[str]):
    """An execute wrapper that EXPLAINs (in the same transaction, with the same settings) each
    statement containing one of `statements` before running it; the plans land in `.plans`."""

    class Explainer:
        plans: list[dict] = []

        def __call__(self, execute, sql, params, many, context):
            if not many and any(s in sql for s in statements):
                cursor = context["cursor"].cursor  # the driver's: past the wrappers
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                self.plans.append(cursor.fetchone()[0][0]["Plan"])
            return execute(sql, params, many, context)

    return Explainer()


def _scans(plan: dict) -> list[tuple[str, str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""), plan.get("Index Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def test_the_split_and_the_claim_read_the_queue_through_its_partial_indexes(
    acme, acme_waba, effect_log
):
    """In a burst the statistics still say every row is due (autovacuum has not analysed the
    table since): the planner then scanned the whole queue (and sorted the bodies on disk) in
    the claim every worker waits on. Both statements read through the indexes of what is due."""
    from django.db import connection

    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(body=b"{}", body_sha256=f"{n:064x}", received_at=now) for n in range(3000)
    )
    WebhookChange.objects.bulk_create(
        WebhookChange(
            delivery=d,
            dedupe_key=f"{n:064x}",
            field="probe_effect",
            entry_id=ACME_WABA,
            value={"n": n},
            client=acme,
            next_attempt_at=now,
        )
        for n, d in enumerate(deliveries)
    )
    with connection.cursor() as cursor:  # statistics of a queue where everything is due
        cursor.execute("ANALYZE meta_webhookdelivery")
        cursor.execute("ANALYZE meta_webhookchange")
    WebhookDelivery.objects.update(state=DeliveryState.PROCESSED, processed_at=now)
    WebhookChange.objects.update(state=ChangeState.APPLIED, next_attempt_at=None)
    for n in range(5):
        store(probe(n))

    explain = _plans_of(["FROM meta_webhookdelivery WHERE state", "attempts = attempts + 1"])
    with connection.execute_wrapper(explain):
        pipeline.deliveries_split()
        assert pipeline.changes_apply().applied == 5
    assert len(explain.plans) == 2
    for plan in explain.plans:
        for node, relation, index in _scans(plan):
            if relation in {"meta_webhookdelivery", "meta_webhookchange"} and "Scan" in node:
                assert node in {"Index Scan", "Index Only Scan"}, (node, relation)
                assert "client" not in index, index
    assert sorted(effect_log()) == list(range(5))


def _probe_of(waba: str, n: int, **extra) -> dict:
    return envelope(waba, "probe_effect", {"n": n, **extra}, time=1_763_000_000 + n)


def test_a_claim_of_many_clients_takes_one_savepoint_when_none_fails(
    acme, acme_waba, globex, globex_waba, effect_log
):
    """A savepoint per client group was two round trips for each client of a claim."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def savepoints(wabas: list[str], base: int) -> int:
        for k, waba in enumerate(wabas):
            store(_probe_of(waba, base + k))
        pipeline.deliveries_split()
        with CaptureQueriesContext(connection) as queries:
            assert pipeline.changes_apply().applied == len(wabas)
        return sum(1 for q in queries if q["sql"].startswith("SAVEPOINT"))

    assert savepoints([ACME_WABA], 100) == savepoints([ACME_WABA, GLOBEX_WABA], 200)
    assert sorted(effect_log()) == [100, 200, 201]


def test_a_failing_client_group_leaves_the_other_clients_of_its_claim_applied_once(
    acme, acme_waba, globex, globex_waba, effect_log
):
    """The claim's savepoint is rolled back whole when one change fails; every group is then
    applied on its own, the failing change alone, and each effect is stored once."""
    review = "account_review_update"
    store(envelope(ACME_WABA, review, {"decision": "APPROVED"}, time=1_763_000_001))
    store(_probe_of(GLOBEX_WABA, 2, fail="bug in the applier"))
    store(envelope(GLOBEX_WABA, review, {"decision": "REJECTED"}, time=1_763_000_003))
    store(envelope(ACME_WABA, review, {"decision": "REJECTED"}, time=1_763_000_004))

    services.webhook_process_pending()

    states = sorted(WebhookChange.objects.values_list("field", "state"))
    assert states == sorted(
        [(review, ChangeState.APPLIED)] * 3 + [("probe_effect", ChangeState.FAILED)]
    )
    assert (events(acme), events(globex)) == (2, 1)  # each applied change's event, once
    assert effect_log().count(2) >= 2  # tried together, then alone


def test_a_change_two_deliveries_of_one_batch_carry_is_the_one_that_stored_it(
    acme, acme_waba, effect_log
):
    """Both deliveries are split in one batch: the change is stored once, counted as seen
    before by the other delivery, and both deliveries finish when it applies."""
    entry = {
        "id": ACME_WABA,
        "time": 1_763_000_000,
        "changes": [probe(7)["entry"][0]["changes"][0]],
    }
    first = store({"object": "whatsapp_business_account", "entry": [entry], "copy": 1})
    second = store({"object": "whatsapp_business_account", "entry": [entry], "copy": 2})

    pipeline.deliveries_split()
    seen = dict(WebhookDelivery.objects.values_list("pk", "changes_seen_before"))
    assert WebhookChange.objects.count() == 1
    owner = WebhookChange.objects.get().delivery_id
    assert seen[owner] == 0
    assert seen[({first, second} - {owner}).pop()] == 1

    services.webhook_process_pending()
    assert effect_log() == [7]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.PROCESSED}


def test_the_queue_index_paths_cost_one_statement_each_way(acme, acme_waba, effect_log):
    """The planner settings of the split and the claim travel in one statement each way, not
    one a setting."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store(probe(1))

    def planner_statements(step) -> int:
        with CaptureQueriesContext(connection) as queries:
            step()
        return sum(1 for q in queries if "enable_seqscan" in q["sql"])

    assert planner_statements(pipeline.deliveries_split) == 2  # off, and back on
    assert planner_statements(pipeline.changes_claim) == 2


def test_the_apply_reads_claimed_changes_as_the_model_does(acme, acme_waba, effect_log):
    """The claimed changes are read as plain rows (not model instances): the same values."""
    from django.db import transaction

    store(probe(1))
    store(oba_rejected(2, "notice"))
    pipeline.deliveries_split()
    ids = pipeline.changes_claim()
    fields = [
        "pk",
        "delivery_id",
        "dedupe_key",
        "field",
        "entry_id",
        "entry_time",
        "value",
        "client_id",
        "attempts",
        "created_at",
    ]
    with transaction.atomic():
        rows = pipeline.claimed_changes_lock(ids)
    models = WebhookChange.objects.filter(pk__in=ids).order_by("id")
    assert len(rows) == len(ids) == 2
    assert [[getattr(r, f) for f in fields] for r in rows] == [
        [getattr(m, f) for f in fields] for m in models
    ]


def test_the_change_queue_leaves_room_for_a_lease_and_indexes_parents_only_where_set(db):
    """A claim's lease (claimed_until, attempts) is written in place when the page has room
    (fillfactor 70: a HOT update, no index entry); a parent index over nearly all-null parents
    took an entry for every change at every write."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'meta_webhookchange'")
        assert cursor.fetchone()[0] == ["fillfactor=70"]
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'meta_webhookchange'"
            " AND indexdef LIKE '%%(parent_id)%%'"
        )
        (definition,) = [row[0] for row in cursor.fetchall()]
    assert "WHERE (parent_id IS NOT NULL)" in definition
    # The lease's columns are in no index, so the claim's UPDATE can stay on its page.
    indexed = {f.lstrip("-") for index in WebhookChange._meta.indexes for f in index.fields}
    assert not indexed & {"claimed_until", "attempts"}
