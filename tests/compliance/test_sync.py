"""The sync against the Meta simulator over real HTTP: what it creates, what drift it records,
how it backs off and how a throttled WABA is left alone until Meta allows it again."""

import logging
import threading

import httpx
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from compliance.models import HealthEvent, HealthSnapshot, PhoneNumber, SyncRun, WhatsAppAccount
from compliance.sync import client_sync
from portal.meta.client import BATCH_LIMIT, GraphClient
from portal.meta.simulator import SimulatorServer
from portal.observability import current_request_id, current_schema, request_id_var
from templates_review.models import MessageTemplate
from tenants.models import AssetKind, MetaAssetRoute
from tests.assets import ACME_WABA

TOKEN = "dev-system-user-token"


@pytest.fixture
def sim():
    with SimulatorServer("demo") as server:
        yield server


def graph_for(sim, **kwargs):
    kwargs.setdefault("sleep", lambda seconds: None)
    return GraphClient(token=TOKEN, base_url=sim.url, **kwargs)


def run_sync(client, graph, run=None):
    with schema_context(client.schema_name):
        return client_sync(graph=graph, run=run)


def test_first_sync_creates_numbers_templates_routes_and_history(sim, acme, acme_waba):
    with graph_for(sim, page_size=1) as graph:  # one number per page: paging is followed
        result = run_sync(acme, graph)

    assert (result.accounts, result.numbers, result.templates, result.errors) == (1, 2, 2, [])
    with schema_context(acme.schema_name):
        account = WhatsAppAccount.objects.get()
        assert account.name == "Acme Retail"
        assert account.last_confirmed_at is not None
        numbers = list(
            PhoneNumber.objects.order_by("meta_id").values_list(
                "meta_id", "quality", "messaging_limit", "status", "band"
            )
        )
        assert numbers == [
            ("2110000001", "high", "tier_10k", "connected", "healthy"),
            ("2110000002", "high", "tier_10k", "connected", "healthy"),
        ]
        assert HealthSnapshot.objects.count() == 2
        assert sorted(MessageTemplate.objects.values_list("name", "meta_status")) == [
            ("order_update", "approved"),
            ("spring_sale", "approved"),
        ]
        assert HealthEvent.objects.count() == 0  # first sight is not a change
    routes = set(MetaAssetRoute.objects.filter(client=acme).values_list("kind", "meta_id"))
    assert (AssetKind.PHONE_NUMBER, "2110000001") in routes


class InFlightTransport(httpx.HTTPTransport):
    """Counts the Graph calls under way at once, and which thread made each."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.calls = []

    def handle_request(self, request):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.calls.append((request.url.path.rsplit("/", 1)[-1], threading.current_thread()))
        try:
            return super().handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_a_waba_its_numbers_and_templates_are_read_in_one_call_on_the_syncs_own_thread(
    sim, acme, acme_waba
):
    """One chunk of WABAs (nearly every client) is read before anything is written, on the
    task's own thread: a fetch thread would overlap nothing and cost a thread a sync."""
    transport = InFlightTransport()
    with graph_for(sim, transport=transport) as graph:
        result = run_sync(acme, graph)

    assert (result.numbers, result.templates, result.errors) == (2, 2, [])
    assert transport.most_in_flight == 1
    main = threading.current_thread()
    assert [(path, thread is main) for path, thread in transport.calls] == [
        (acme_waba.meta_id, True)
    ]
    assert sim.calls == 1


def test_a_failed_page_of_templates_keeps_the_numbers_sync(sim, acme, acme_waba):
    # one template a page: the second page is a call of its own, and it fails
    sim.configure(errors={"next": [{"kind": "500", "count": 5, "match": "/message_templates"}]})

    with graph_for(sim, max_retries=1, page_size=1) as graph:
        result = run_sync(acme, graph)

    assert (result.accounts, result.numbers, result.templates) == (1, 2, 0)
    assert len(result.errors) == 1
    assert result.errors[0].startswith(acme_waba.meta_id)
    with schema_context(acme.schema_name):
        assert WhatsAppAccount.objects.get().last_confirmed_at is None  # not applied after it
        assert PhoneNumber.objects.filter(last_confirmed_at__isnull=False).count() == 2
        assert HealthSnapshot.objects.count() == 2  # scored, as every sync does
        assert MessageTemplate.objects.count() == 0


def test_with_several_chunks_the_next_is_fetched_in_the_background_logging_with_the_syncs_schema(
    acme,
):
    """More WABAs than a batch holds: each chunk is read on the fetch thread (the next one while
    this one is written), and what the client logs there carries the sync's schema and request
    id."""
    from compliance.services import account_link
    from portal.meta.simulator.scenario import generate, waba_id_for

    for c in range(BATCH_LIMIT + 1):  # named so that the last one linked is the last read
        account_link(client=acme, waba_id=waba_id_for(c), name=f"Client {c:03d}")
    seen = []

    class AtEmit(logging.Handler):
        def emit(self, record):
            seen.append((record.threadName, current_schema(), current_request_id()))

    client_logger = logging.getLogger("portal.meta.client")
    handler, level = AtEmit(), client_logger.level
    client_logger.addHandler(handler)
    client_logger.setLevel(logging.INFO)
    token = request_id_var.set("req-sync-1")
    transport = InFlightTransport()
    last = waba_id_for(BATCH_LIMIT)
    try:
        with (
            SimulatorServer(generate(BATCH_LIMIT + 1, 1, 1)) as server,
            GraphClient(
                token="bench-token", base_url=server.url, transport=transport, sleep=lambda s: None
            ) as graph,
        ):
            server.configure(errors={"next": [{"kind": "500", "count": 1, "match": last}]})
            result = run_sync(acme, graph)
    finally:
        request_id_var.reset(token)
        client_logger.removeHandler(handler)
        client_logger.setLevel(level)

    wabas = BATCH_LIMIT + 1
    assert (result.accounts, result.numbers, result.errors) == (wabas, wabas, [])
    # the batch of the first chunk, the second chunk's WABA and its retry: all off the main thread
    assert [path for path, _ in transport.calls] == ["", last, last]
    assert all(thread.name.startswith("graph-fetch") for _, thread in transport.calls)
    assert len(seen) == 1  # the retry of the last WABA's read
    thread_name, schema, request_id = seen[0]
    assert thread_name.startswith("graph-fetch")
    assert (schema, request_id) == (acme.schema_name, "req-sync-1")


def test_drift_seen_only_by_the_sync_becomes_events_and_a_snapshot(sim, acme, acme_waba):
    with graph_for(sim) as graph:
        run_sync(acme, graph)
        # Meta sends no webhook for number quality any more: only the sync can see this.
        sim.apply({"type": "number_quality", "phone_number_id": "2110000001", "quality": "YELLOW"})
        run_sync(acme, graph)
        run_sync(acme, graph)  # nothing new: no duplicate event

    with schema_context(acme.schema_name):
        event = HealthEvent.objects.get()
        assert (event.kind, event.source, event.severity) == ("quality_drop", "sync", "warning")
        number = PhoneNumber.objects.get(meta_id="2110000001")
        assert (number.quality, number.score, number.band) == ("medium", 75, "watch")
        assert number.snapshots.count() == 2


def test_sync_backs_off_on_80008_and_429_then_succeeds(sim, acme, acme_waba):
    waits = []
    sim.configure(errors={"next": [{"kind": "80008", "count": 2}, {"kind": "429", "count": 1}]})

    with graph_for(sim, sleep=waits.append) as graph:
        result = run_sync(acme, graph)

    assert result.errors == []
    assert len(waits) == 3
    assert all(w >= 0 for w in waits)


def test_a_throttled_waba_is_recorded_and_skipped_until_meta_allows_it(sim, acme, acme_waba):
    sim.configure(errors={"next": [{"kind": "80008", "count": 50}]})

    with graph_for(sim, max_retries=1, max_backoff=0.01) as graph:
        result = run_sync(acme, graph)
        calls_after_first = sim.calls
        second = run_sync(acme, graph)

    assert result.retry_after is not None
    assert "too many calls" in result.errors[0].lower() or "rate" in result.errors[0].lower()
    with schema_context(acme.schema_name):
        assert WhatsAppAccount.objects.get().throttled_until is not None
    assert sim.calls == calls_after_first  # the throttled WABA was not called again
    assert "throttled" in second.errors[0]


def test_sync_run_reports_progress_and_outcome(sim, acme, acme_waba):
    with schema_context(acme.schema_name):
        run = SyncRun.objects.create()
    with graph_for(sim) as graph:
        run_sync(acme, graph, run=run)

    with schema_context(acme.schema_name):
        run.refresh_from_db()
        assert (run.state, run.steps_done, run.steps_total, run.percent) == ("done", 3, 3, 100)


def test_sync_task_runs_in_its_tenant_with_the_stored_token(sim, acme, globex, acme_waba, settings):
    from compliance.tasks import sync_client
    from portal.meta import credentials

    settings.META_GRAPH_URL = sim.url
    settings.META_SYSTEM_USER_TOKEN = TOKEN
    credentials.clear_cache()
    connection.set_tenant(acme)
    try:
        result = sync_client.apply().get()
    finally:
        credentials.clear_cache()

    assert (result["schema"], result["numbers"], result["errors"]) == ("c_acme", 2, [])
    with schema_context(globex.schema_name):
        assert PhoneNumber.objects.count() == 0


def test_fan_out_sync_sends_the_clients_with_a_waba_a_batch_a_task(acme_waba, globex, monkeypatch):
    from compliance import tasks

    sent = []
    monkeypatch.setattr(tasks, "SYNC_BATCH", 1)
    monkeypatch.setattr(
        tasks.sync_clients,
        "apply_async",
        lambda args, kwargs, headers: sent.append((list(args), headers)),
    )

    assert tasks.fan_out_sync.apply().get() == 1  # globex has no WABA
    assert sent == [([["c_acme"]], {"_schema_name": "public"})]


def test_sync_batches_keep_the_order_and_hold_sync_batch_schemas_each(monkeypatch):
    from compliance import tasks

    monkeypatch.setattr(tasks, "SYNC_BATCH", 2)

    assert tasks.sync_batches(["a", "b", "c", "d", "e"]) == [["a", "b"], ["c", "d"], ["e"]]
    assert tasks.sync_batches([]) == []


@pytest.fixture
def task_graph(sim, settings, monkeypatch):
    """The sync tasks' Graph client, at the simulator, without real back-off sleeps."""
    from compliance import tasks
    from portal.meta import credentials

    settings.META_GRAPH_URL = sim.url
    settings.META_SYSTEM_USER_TOKEN = TOKEN
    credentials.clear_cache()
    monkeypatch.setattr(
        tasks,
        "GraphClient",
        lambda token: GraphClient(token=token, base_url=sim.url, max_retries=1, sleep=lambda s: 0),
    )
    yield
    credentials.clear_cache()


def test_a_batch_syncs_each_client_in_its_own_tenant(sim, acme, globex, acme_waba, task_graph):
    from compliance.tasks import sync_clients

    result = sync_clients.apply(args=[["c_acme", "c_globex", "c_gone"]]).get()

    # globex has no WABA: synced, nothing to read; an unknown schema is an error, not a stop
    assert result == {
        "clients": 2,
        "accounts": 1,
        "numbers": 2,
        "templates": 2,
        "errors": ["c_gone: no such client"],
    }
    with schema_context(acme.schema_name):
        assert PhoneNumber.objects.count() == 2
    with schema_context(globex.schema_name):
        assert PhoneNumber.objects.count() == 0
    assert connection.schema_name == "public"


def test_a_client_whose_sync_raises_does_not_stop_its_batch(
    sim, acme, globex, acme_waba, globex_waba, task_graph, monkeypatch
):
    from compliance import sync
    from compliance.tasks import sync_clients

    real = sync.client_sync

    def client_sync(**kwargs):
        if connection.schema_name == "c_acme":
            raise RuntimeError("acme's sync broke")
        return real(**kwargs)

    monkeypatch.setattr(sync, "client_sync", client_sync)

    result = sync_clients.apply(args=[["c_acme", "c_globex"]]).get()

    assert result["clients"] == 1
    assert result["errors"] == ['c_acme: RuntimeError("acme\'s sync broke")']
    with schema_context(acme.schema_name):
        assert PhoneNumber.objects.count() == 0
    with schema_context(globex.schema_name):
        assert PhoneNumber.objects.exists()  # the next client of the batch was synced
    assert connection.schema_name == "public"


def test_a_throttled_client_of_a_batch_is_sent_again_on_its_own(
    sim, acme, acme_waba, task_graph, monkeypatch
):
    from compliance import tasks

    sent = []
    monkeypatch.setattr(
        tasks.sync_client,
        "apply_async",
        lambda headers, countdown: sent.append((headers, countdown)),
    )
    sim.configure(errors={"next": [{"kind": "80008", "count": 50}]})

    result = tasks.sync_clients.apply(args=[["c_acme"]]).get()

    assert result["clients"] == 1
    assert result["numbers"] == 0
    assert result["errors"][0].startswith(f"c_acme: {ACME_WABA}: ")
    assert sent == [({"_schema_name": "c_acme"}, 60.0)]


@pytest.mark.parametrize(("numbers", "templates"), [(1, 1), (6, 30)])
def test_sync_queries_do_not_grow_with_numbers_or_templates(acme, numbers, templates):
    """The fleet sync runs for every client every few minutes: a fixed number of queries per
    WABA, whatever its size (first sight and steady state)."""
    from django.test.utils import CaptureQueriesContext

    from portal.meta.simulator.scenario import generate, waba_id_for

    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.create(meta_id=waba_id_for(0))
    counts = []
    with (
        SimulatorServer(generate(1, numbers, templates)) as server,
        GraphClient(token="bench-token", base_url=server.url) as graph,
    ):
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                assert run_sync(acme, graph).errors == []
            counts.append(len(queries))
    with schema_context(acme.schema_name):
        assert PhoneNumber.objects.count() == numbers
        assert MessageTemplate.objects.count() == templates
    # first sync, steady state: the same for a WABA of 1 number and 1 template as for 6 and 30
    # (with the savepoint pair of its one transaction; the test's schema_context also reads the
    # client, which a worker's task has already); the first also links the owner portfolio and
    # states its limit (6, once per portfolio: its read and INSERT, the account's link, the
    # portfolio's lock, the limit's history and the limit) and marks what it reconciled the
    # templates against; the numbers' 30-day signals and the account's restrictions are one
    # statement; the steady state confirms the unchanged templates in one statement (no read)
    assert counts == [23, 12]


@pytest.mark.parametrize(("numbers", "templates"), [(1, 1), (6, 30)])
def test_drift_in_every_number_and_template_is_written_in_a_fixed_number_of_queries(
    acme, numbers, templates
):
    """Meta renamed every number and edited every template's content (no state change, so no
    event): the sync writes them all, set-based, in as many queries as for one of each."""
    from django.test.utils import CaptureQueriesContext

    from portal.meta.simulator.scenario import generate, waba_id_for

    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.create(meta_id=waba_id_for(0))
    with (
        SimulatorServer(generate(1, numbers, templates)) as server,
        GraphClient(token="bench-token", base_url=server.url) as graph,
    ):
        assert run_sync(acme, graph).errors == []
        with server.state.lock:
            for number in server.state.numbers.values():
                number["verified_name"] = "Renamed at Meta"
            for template in server.state.templates.values():
                template["components"] = [{"type": "BODY", "text": "Edited at Meta"}]
        with CaptureQueriesContext(connection) as queries:
            assert run_sync(acme, graph).errors == []
    with schema_context(acme.schema_name):
        assert set(PhoneNumber.objects.values_list("verified_name", flat=True)) == {
            "Renamed at Meta"
        }
        assert [t.components for t in MessageTemplate.objects.all()] == [
            [{"type": "BODY", "text": "Edited at Meta"}]
        ] * templates
        assert HealthEvent.objects.count() == 0
    # the steady state's 12, less its one-statement confirmation of unchanged templates, plus
    # the templates' read and write and the mark of what they were reconciled against; the
    # numbers' and the templates' writes carry Meta's view
    assert len(queries) == 15


def test_a_client_with_several_wabas_reads_them_in_one_batch_and_writes_only_its_own(acme, globex):
    from compliance.services import account_link
    from portal.meta.simulator.scenario import generate, waba_id_for

    for client, c in ((acme, 0), (acme, 1), (globex, 2)):
        account_link(client=client, waba_id=waba_id_for(c), name=f"Client {c}")
    transport = InFlightTransport()
    with (
        SimulatorServer(generate(3, 2, 4)) as server,
        GraphClient(token="bench-token", base_url=server.url, transport=transport) as graph,
    ):
        result = run_sync(acme, graph)
        assert (result.accounts, result.numbers, result.templates, result.errors) == (2, 4, 8, [])
        assert [path for path, _ in transport.calls] == [""]  # POST /v24.0/: the batch
        assert server.state.snapshot()["calls"] == 2
        with schema_context(globex.schema_name):
            assert PhoneNumber.objects.count() == 0
            assert MessageTemplate.objects.count() == 0
        assert run_sync(globex, graph).numbers == 2
    with schema_context(acme.schema_name):
        assert sorted(WhatsAppAccount.objects.values_list("meta_id", flat=True)) == [
            waba_id_for(0),
            waba_id_for(1),
        ]
        assert PhoneNumber.objects.count() == 4
        assert WhatsAppAccount.objects.filter(last_confirmed_at__isnull=True).count() == 0
    with schema_context(globex.schema_name):
        assert PhoneNumber.objects.count() == 2
        assert set(PhoneNumber.objects.values_list("account__meta_id", flat=True)) == {
            waba_id_for(2)
        }


def test_the_sync_reads_only_the_template_columns_it_compares_and_writes(acme):
    """Every sync reads every template of every WABA: not their drafts and review state."""
    from django.test.utils import CaptureQueriesContext

    from portal.meta.simulator.scenario import generate, waba_id_for

    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.create(meta_id=waba_id_for(0))
    with (
        SimulatorServer(generate(1, 1, 3)) as server,
        GraphClient(token="bench-token", base_url=server.url) as graph,
    ):
        assert run_sync(acme, graph).errors == []
        with server.state.lock:  # a changed list is read (an unchanged one is only confirmed)
            for template in server.state.templates.values():
                template["components"] = [{"type": "BODY", "text": "Edited at Meta"}]
        with CaptureQueriesContext(connection) as queries:
            assert run_sync(acme, graph).errors == []
    (read,) = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and 'FROM "templates_review_messagetemplate"' in q["sql"]
    ]
    assert '"templates_review_messagetemplate"."components"' in read
    assert '"templates_review_messagetemplate"."review_state"' not in read
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.count() == 3
        assert all(t.last_confirmed_at for t in MessageTemplate.objects.all())


def test_a_ban_a_webhook_writes_during_a_sync_is_not_written_back_by_it(acme, monkeypatch):
    """The sync saved its whole copy of the WABA at the end, putting back the ban state it read
    before a webhook changed it. It writes only the fields Meta's view of the WABA sets."""
    from compliance import sync as sync_module
    from portal.meta.simulator.scenario import generate, waba_id_for

    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.create(meta_id=waba_id_for(0))
    read_numbers = sync_module._sync_numbers

    def with_a_webhook_meanwhile(account, *args, **kwargs):
        WhatsAppAccount.objects.filter(pk=account.pk).update(ban_state="schedule_for_disable")
        return read_numbers(account, *args, **kwargs)

    monkeypatch.setattr(sync_module, "_sync_numbers", with_a_webhook_meanwhile)
    with (
        SimulatorServer(generate(1, 1, 1)) as server,
        GraphClient(token="bench-token", base_url=server.url) as graph,
    ):
        assert run_sync(acme, graph).errors == []
    with schema_context(acme.schema_name):
        account = WhatsAppAccount.objects.get()
        assert account.ban_state == "schedule_for_disable"
        assert account.last_confirmed_at is not None
