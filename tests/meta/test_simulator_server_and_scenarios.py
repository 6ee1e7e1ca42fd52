"""The simulator as a process (CLI, control API), its HTTP details, the demo scenario and the
benchmark generator."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer, generate
from portal.meta.simulator.scenario import DEMO, load
from portal.meta.types import MessagingLimit, NumberStatus, Quality, TemplateCategory
from tests.meta.conftest import TOKEN, WABA

ROOT = Path(__file__).resolve().parents[2]
DEMO_TOKEN = "dev-system-user-token"


@pytest.mark.slow
def test_cli_starts_serves_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal.meta.simulator",
            "--scenario",
            str(DEMO),
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--time-scale",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # blocks until the server listens
        assert line.startswith("Meta simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        assert ready.read_text().strip() == url
        with GraphClient(token=DEMO_TOKEN, base_url=url) as client:
            assert client.get_waba("1110000001").name == "Acme Retail"
        produced = httpx.post(
            f"{url}/_sim/events",
            json={"type": "number_quality", "phone_number_id": "2110000002", "quality": "RED"},
        ).json()
        assert produced == {"webhooks": []}
        advanced = httpx.post(f"{url}/_sim/advance", json={"seconds": 40}).json()
        assert len(advanced["webhooks"]) == 4  # the demo timeline
        assert httpx.post(f"{url}/_sim/config", json={"latency_ms": 0}).json() == {"ok": True}
        state = httpx.get(f"{url}/_sim/state").json()
        assert state["numbers"]["2110000002"]["status"] == "FLAGGED"
        assert state["templates"]["3120000001"]["status"] == "PAUSED"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_control_api_in_process(sim):
    with httpx.Client(base_url=sim.url) as http:
        response = http.post(
            "/_sim/events",
            json={"events": [{"type": "ban", "waba_id": WABA, "state": "DISABLE"}]},
        )
        assert response.status_code == 200
        assert response.json()["webhooks"][0]["entry"][0]["id"] == WABA
        assert http.post("/_sim/events", json={"type": "nope"}).status_code == 400
        assert http.post("/_sim/advance", json={"seconds": 5}).json()["now"] == sim.now
        assert http.post("/_sim/config", json={"errors": {"next": [{"kind": "500"}]}}).json()
        assert (
            http.get(f"/v24.0/{WABA}", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
            == 500
        )
        assert http.get("/_sim/nothing").status_code == 404
        assert http.post("/_sim/config", json={"errors": {"bogus": 1}}).status_code == 400
    assert sim.state.wabas[WABA]["ban_state"] == "DISABLE"


def test_graph_error_shape_is_metas(sim):
    response = httpx.get(f"{sim.url}/v24.0/{WABA}", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "is_transient", "fbtrace_id"}
    assert (error["type"], error["code"]) == ("OAuthException", 190)


def test_version_segment_is_optional_and_access_token_param_works(sim):
    response = httpx.get(f"{sim.url}/{WABA}", params={"access_token": TOKEN, "fields": "name"})
    assert response.json() == {"id": WABA, "name": "Test Co"}


def test_paging_shape(sim):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    first = httpx.get(f"{sim.url}/v24.0/{WABA}/message_templates?limit=3", headers=headers).json()
    assert len(first["data"]) == 3
    assert set(first["paging"]["cursors"]) == {"before", "after"}
    assert first["paging"]["next"].startswith(f"{sim.url}/v24.0/{WABA}/message_templates?")
    last = httpx.get(
        f"{sim.url}/v24.0/{WABA}/message_templates",
        params={"limit": 3, "after": "Ng=="},  # index 6
        headers=headers,
    ).json()
    assert [t["name"] for t in last["data"]] == ["template_7"]
    assert "next" not in last["paging"]
    filtered = httpx.get(
        f"{sim.url}/v24.0/{WABA}/message_templates",
        params={"name": "template_2"},
        headers=headers,
    ).json()
    assert [t["id"] for t in filtered["data"]] == ["3000000002"]


def test_form_encoded_template_creation(sim):
    response = httpx.post(
        f"{sim.url}/v24.0/{WABA}/message_templates",
        data={
            "name": "form_made",
            "language": "en_US",
            "category": "UTILITY",
            "components": '[{"type":"BODY","text":"Hello {{1}}, thanks for your order today."}]',
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"


def test_concurrent_requests_with_latency(scenario):
    with SimulatorServer(scenario, latency_ms=50) as sim:

        def read(i):
            with GraphClient(token=TOKEN, base_url=sim.url) as client:
                return client.get_phone_number(f"200000000{i % 5 + 1}").id

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(read, range(16)))
        assert sim.calls == 16
        assert 1 < sim.state.snapshot()["most_in_flight"] <= 8  # answered together
    assert len(set(ids)) == 5


@pytest.mark.parametrize(("work_ms", "slept_ms"), [(30, 20), (80, 0)])
def test_latency_is_the_response_time_and_includes_the_simulators_own_work(
    scenario, monkeypatch, work_ms, slept_ms
):
    """A call answers `latency_ms` after it arrived: the simulator's own work is part of that
    time, not added to it (a fleet benchmark measures the portal, not the simulator)."""
    from portal.meta.simulator import server as sim_server

    clock, slept = [100.0], []
    monkeypatch.setattr(sim_server._Handler, "clock", staticmethod(lambda: clock[0]))
    monkeypatch.setattr(sim_server._Handler, "sleep", staticmethod(slept.append))
    with SimulatorServer(scenario, latency_ms=50) as sim:
        handle = sim.engine.handle

        def slow_handle(*args, **kwargs):
            clock[0] += work_ms / 1000
            return handle(*args, **kwargs)

        monkeypatch.setattr(sim.engine, "handle", slow_handle)
        with GraphClient(token=TOKEN, base_url=sim.url) as client:
            assert client.get_waba(WABA).id == WABA
    assert slept == [pytest.approx(slept_ms / 1000)]


def test_error_rates_are_seeded(sim):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sim.url, headers=headers) as http:
        sim.configure(errors={"rates": {"500": 0.5}, "seed": 3})
        first = [http.get(f"/{WABA}").status_code for _ in range(12)]
        sim.configure(errors={"rates": {"500": 0.5}, "seed": 3})
        second = [http.get(f"/{WABA}").status_code for _ in range(12)]
        assert first == second
        assert set(first) == {200, 500}
        sim.configure(errors={})
        assert http.get(f"/{WABA}").status_code == 200


def test_demo_scenario_ids_and_states():
    demo = load("demo")
    assert demo["tokens"] == [DEMO_TOKEN]
    with SimulatorServer(DEMO) as sim, GraphClient(token=DEMO_TOKEN, base_url=sim.url) as client:
        acme = client.get_waba("1110000001")
        assert acme.name == "Acme Retail"
        acme_numbers = client.list_phone_numbers("1110000001")
        assert [(n.id, n.quality, n.messaging_limit, n.status) for n in acme_numbers] == [
            ("2110000001", Quality.HIGH, MessagingLimit.TIER_10K, NumberStatus.CONNECTED),
            ("2110000002", Quality.HIGH, MessagingLimit.TIER_10K, NumberStatus.CONNECTED),
        ]
        assert acme_numbers[0].display_phone_number == "+1 555-010-0001"
        assert [(t.name, t.category, t.language) for t in client.list_templates("1110000001")] == [
            ("order_update", TemplateCategory.UTILITY, "en_US"),
            ("spring_sale", TemplateCategory.MARKETING, "en_US"),
        ]
        assert client.get_waba("1120000001").name == "Globex Logistics"
        assert [t.name for t in client.list_templates("1120000001")] == [
            "shipping_update",
            "delivery_window",
        ]
        assert client.get_waba("1130000001").name == "Initech Software"
        assert client.get_phone_number("2130000001").quality is Quality.MEDIUM
        assert [t.name for t in client.list_templates("1130000001")] == ["renewal_offer"]

        fields = [e["entry"][0]["changes"][0]["field"] for e in sim.advance(60)]
        assert sorted(fields) == [
            "account_update",
            "account_update",
            "message_template_quality_update",
            "message_template_status_update",
        ]
        assert client.get_phone_number("2120000001").quality is Quality.MEDIUM
        assert sim.state.templates["3120000001"]["status"] == "PAUSED"
        initech = sim.state.wabas["1130000001"]
        assert (
            initech["restrictions"][0]["restriction_type"] == "RESTRICTED_BIZ_INITIATED_MESSAGING"
        )
        assert initech["ban_state"] == "SCHEDULE_FOR_DISABLE"


def test_realtime_clock_fires_timers_with_time_scale(scenario):
    scenario["events"] = [{"at": 60, "type": "ban", "waba_id": WABA, "state": "DISABLE"}]
    with SimulatorServer(scenario, time_scale=100_000) as sim:
        assert sim.realtime
        fired = threading.Event()
        for _ in range(50):  # the clock thread ticks every 0.1 s: 10,000 simulated seconds
            if sim.state.wabas[WABA]["ban_state"] == "DISABLE" or fired.wait(0.02):
                break
        assert sim.state.wabas[WABA]["ban_state"] == "DISABLE"


def test_generate_is_deterministic_and_documents_its_ids():
    scenario = generate(3, numbers_per_waba=2, templates_per_waba=4, seed=1)
    assert scenario == generate(3, numbers_per_waba=2, templates_per_waba=4, seed=1)
    assert [w["id"] for w in scenario["wabas"]] == ["3000000000", "3000000001", "3000000002"]
    assert [n["id"] for n in scenario["wabas"][1]["phone_numbers"]] == ["4000000100", "4000000101"]
    assert [t["id"] for t in scenario["wabas"][2]["message_templates"]] == [
        "5000002000",
        "5000002001",
        "5000002002",
        "5000002003",
    ]
    assert scenario["wabas"][0]["client"] == "client00000"
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token="bench-token", base_url=sim.url, page_size=3) as client,
    ):
        assert len(client.list_templates("3000000002")) == 4
        assert len({n.display_phone_number for n in client.list_phone_numbers("3000000001")}) == 2
