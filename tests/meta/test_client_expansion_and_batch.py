"""One Graph call per WABA: field expansion (`phone_numbers{...}`, `message_templates.limit(N)
{...}`, nested `{"data", "paging"}` edges followed past a page) and batch requests (`POST /`
with `batch=[{method, relative_url}]`, at most 50), against the simulator over real HTTP; and
the client's bound on calls in flight, lowered when Meta's usage header says the WABA is busy."""

import json
import threading

import httpx
import pytest

from portal.meta.client import BATCH_LIMIT, GraphClient
from portal.meta.errors import MetaError
from portal.meta.simulator import SimulatorServer
from portal.meta.simulator.engine import field_specs
from portal.meta.simulator.scenario import generate, phone_number_id_for, waba_id_for
from portal.meta.types import NumberStatus, Quality, TemplateStatus
from tests.meta.conftest import TOKEN, WABA

BENCH_TOKEN = "bench-token"


class CountingTransport(httpx.HTTPTransport):
    """The HTTP requests made and the most under way at once."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.requests.append((request.method, request.url.path))
        try:
            return super().handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_field_specs_read_graphs_nested_field_syntax():
    assert field_specs("id,phone_numbers.limit(5){id,status},message_templates{id},name") == [
        ("id", None, ""),
        ("phone_numbers", "5", "id,status"),
        ("message_templates", None, "id"),
        ("name", None, ""),
    ]


def test_the_simulator_answers_an_expanded_waba_read_with_nested_pages(sim):
    fields = "id,name,phone_numbers.limit(2){id,status},message_templates.limit(10){id,name}"
    response = httpx.get(
        f"{sim.url}/v24.0/{WABA}",
        params={"fields": fields},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    data = response.json()
    assert response.status_code == 200
    assert (data["id"], data["name"]) == (WABA, "Test Co")
    numbers = data["phone_numbers"]
    assert numbers["data"] == [
        {"id": "2000000001", "status": "CONNECTED"},
        {"id": "2000000002", "status": "CONNECTED"},
    ]
    # past the first page: the edge's own URL, asking for the same fields
    assert numbers["paging"]["next"].startswith(f"{sim.url}/v24.0/{WABA}/phone_numbers?")
    assert "fields=id%2Cstatus" in numbers["paging"]["next"]
    assert "next" not in data["message_templates"]["paging"]
    assert [t["name"] for t in data["message_templates"]["data"]] == [
        f"template_{i}" for i in range(1, 8)
    ]
    assert set(data["message_templates"]["data"][0]) == {"id", "name"}
    assert sim.calls == 1


def test_get_waba_assets_is_one_call_and_follows_an_edge_past_its_page(make_client, sim):
    transport = CountingTransport()
    client = make_client(page_size=2, transport=transport)

    assets = client.get_waba_assets(WABA)

    assert (assets.waba.id, assets.waba.name) == (WABA, "Test Co")
    assert "phone_numbers" not in assets.waba.raw  # the WABA's own fields, as get_waba's
    assert [n.id for n in assets.numbers] == [f"200000000{i}" for i in range(1, 6)]
    assert {(n.status, n.quality) for n in assets.numbers} == {
        (NumberStatus.CONNECTED, Quality.HIGH)
    }
    assert [t.name for t in assets.templates] == [f"template_{i}" for i in range(1, 8)]
    assert {t.status for t in assets.templates} == {TemplateStatus.APPROVED}
    assert assets.numbers == tuple(make_client().list_phone_numbers(WABA))
    assert assets.templates == tuple(make_client().list_templates(WABA))
    assert assets.templates_error is None
    assert [u.use_case for u in assets.usage] == ["whatsapp_business_management"]
    # first page of both edges with the WABA, then 2 more pages of numbers, 3 of templates
    assert [path for _, path in transport.requests] == [
        f"/v24.0/{WABA}",
        f"/v24.0/{WABA}/phone_numbers",
        f"/v24.0/{WABA}/phone_numbers",
        f"/v24.0/{WABA}/message_templates",
        f"/v24.0/{WABA}/message_templates",
        f"/v24.0/{WABA}/message_templates",
    ]


def test_a_failed_page_of_templates_is_reported_with_the_numbers_whole(make_client, sim):
    sim.configure(errors={"next": [{"kind": "190", "count": 1, "match": "/message_templates"}]})
    assets = make_client(page_size=5).get_waba_assets(WABA)
    assert len(assets.numbers) == 5
    assert assets.templates == ()
    assert isinstance(assets.templates_error, MetaError)


@pytest.fixture
def fleet():
    with SimulatorServer(generate(120, 2, 3)) as server:
        yield server


def test_the_simulator_answers_a_batch_in_order_and_counts_each_request(fleet):
    batch = [
        {"method": "GET", "relative_url": f"{waba_id_for(0)}?fields=id,name"},
        {"method": "GET", "relative_url": f"{phone_number_id_for(1, 0)}?fields=id"},
        {"method": "GET", "relative_url": "999?fields=id"},
    ]
    response = httpx.post(
        f"{fleet.url}/v24.0/",
        data={"batch": json.dumps(batch)},
        headers={"Authorization": f"Bearer {BENCH_TOKEN}"},
    )
    answers = response.json()
    assert response.status_code == 200
    assert [a["code"] for a in answers] == [200, 200, 400]
    assert json.loads(answers[0]["body"]) == {"id": waba_id_for(0), "name": "Client 0"}
    assert json.loads(answers[1]["body"]) == {"id": phone_number_id_for(1, 0)}
    assert json.loads(answers[2]["body"])["error"]["error_subcode"] == 33  # no such object
    usage = {h["name"]: h["value"] for h in answers[0]["headers"]}["X-Business-Use-Case-Usage"]
    assert waba_id_for(0) in json.loads(usage)
    state = fleet.state.snapshot()
    assert (state["requests"], state["calls"]) == (1, 3)


def test_the_simulator_refuses_a_batch_over_50_and_one_without_a_token(fleet):
    batch = [{"method": "GET", "relative_url": waba_id_for(0)}] * (BATCH_LIMIT + 1)
    too_many = httpx.post(
        f"{fleet.url}/v24.0/",
        data={"batch": json.dumps(batch)},
        headers={"Authorization": f"Bearer {BENCH_TOKEN}"},
    )
    assert too_many.status_code == 400
    assert "Maximum batch size is 50" in too_many.json()["error"]["error_user_msg"]
    no_token = httpx.post(f"{fleet.url}/v24.0/", data={"batch": json.dumps(batch[:1])})
    assert (no_token.status_code, no_token.json()["error"]["code"]) == (401, 190)


def test_get_wabas_assets_batches_50_at_a_time_with_a_bounded_number_in_flight(fleet):
    transport = CountingTransport()
    ids = [waba_id_for(c) for c in range(120)] + ["3999999999"]  # and one Meta does not know
    with GraphClient(
        token=BENCH_TOKEN, base_url=fleet.url, page_size=1, max_in_flight=3, transport=transport
    ) as client:
        found = client.get_wabas_assets(ids)

    assert list(found) == ids
    assert isinstance(found["3999999999"], MetaError)
    for c in (0, 57, 119):
        assets = found[waba_id_for(c)]
        assert assets.waba.id == waba_id_for(c)
        assert [n.id for n in assets.numbers] == [phone_number_id_for(c, n) for n in range(2)]
        assert len(assets.templates) == 3
    batches = [r for r in transport.requests if r[0] == "POST"]
    assert len(batches) == 3  # 50 + 50 + 21
    pages = [r for r in transport.requests if r[0] == "GET"]
    assert len(pages) == 120 * (1 + 2)  # past one item a page: 1 more number, 2 more templates
    assert transport.most_in_flight == 3


def test_a_busy_waba_is_read_one_call_at_a_time(fleet):
    fleet.state.rate_limit_per_hour = 20  # 16 calls make the usage header read 80 %
    transport = CountingTransport()
    with GraphClient(
        token=BENCH_TOKEN, base_url=fleet.url, page_size=1, max_in_flight=4, transport=transport
    ) as client:
        ids = [waba_id_for(c) for c in range(6)]
        for waba_id in ids:
            for _ in range(16):
                client.get_waba(waba_id)
        assert client.allowed_in_flight(ids) == 1
        assert client.allowed_in_flight([waba_id_for(50)]) == 4  # never seen: not busy
        transport.most_in_flight = 0
        found = client.get_wabas_assets(ids)
    # within the limit still (16 + the WABA's read + 3 more pages = 20): all read, one at a time
    assert [(a.waba.id, len(a.numbers), len(a.templates)) for a in found.values()] == [
        (waba_id, 2, 3) for waba_id in ids
    ]
    assert transport.most_in_flight == 1
