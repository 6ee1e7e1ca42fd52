"""GraphClient retries, back-off, rate limits and error mapping (sleeps recorded, never slept)."""

from __future__ import annotations

import logging

import pytest

from portal.meta.client import GraphClient
from portal.meta.errors import (
    MetaAuthError,
    MetaError,
    MetaNotFound,
    MetaRateLimited,
    MetaTransportError,
    MetaUnavailable,
    error_from_body,
)
from tests.meta.conftest import TOKEN, WABA


@pytest.mark.parametrize("kind", ["429", "500", "503", "80008", "80007", "4", "17"])
def test_retries_with_exponential_backoff_then_succeeds(sim, client, sleeps, kind):
    sim.configure(errors={"next": [{"kind": kind, "count": 3}]})

    waba = client.get_waba(WABA)

    assert waba.id == WABA
    assert sim.calls == 4  # 3 failures + the success
    assert sleeps == [1.0, 2.0, 4.0]  # full jitter's upper bound: base * 2**attempt


def test_full_jitter_draws_between_zero_and_the_cap(sim, make_client, sleeps):
    class Rng:
        def __init__(self):
            self.bounds = []

        def uniform(self, a, b):
            self.bounds.append((a, b))
            return b / 4

    rng = Rng()
    client = make_client(rng=rng, max_backoff=3.0)
    sim.configure(errors={"next": [{"kind": "500", "count": 3}]})
    client.get_waba(WABA)
    assert rng.bounds == [(0, 1.0), (0, 2.0), (0, 3.0)]  # capped at max_backoff
    assert sleeps == [0.25, 0.5, 0.75]


def test_transport_errors_are_retried(sim, client, sleeps):
    sim.configure(errors={"next": [{"kind": "drop", "count": 2}]})
    assert client.get_phone_number("2000000001").id == "2000000001"
    assert sim.calls == 3
    assert sleeps == [1.0, 2.0]


def test_timeouts_are_retried(sim, make_client, sleeps):
    client = make_client(timeout=0.2)
    sim.configure(errors={"next": [{"kind": "timeout", "delay": 0.5}]})
    assert client.get_waba(WABA).id == WABA
    assert sleeps == [1.0]


def test_retries_exhausted_raise_rate_limited(sim, make_client, sleeps):
    client = make_client(max_retries=2)
    sim.configure(errors={"next": [{"kind": "80008", "count": 10}]})

    with pytest.raises(MetaRateLimited) as caught:
        client.list_templates(WABA)

    assert sim.calls == 3
    assert sleeps == [1.0, 2.0]
    assert caught.value.retry_after == 4.0
    assert caught.value.code == 80008
    assert caught.value.last_error.code == 80008


def test_server_errors_exhausted_raise_unavailable(sim, make_client, sleeps):
    client = make_client(max_retries=1)
    sim.configure(errors={"next": [{"kind": "500", "count": 5}]})
    with pytest.raises(MetaUnavailable) as caught:
        client.get_waba(WABA)
    assert isinstance(caught.value, MetaRateLimited)
    assert caught.value.http_status == 500
    assert sim.calls == 2


def test_transport_errors_exhausted_are_both_transport_and_rate_limited(sim, make_client):
    client = make_client(max_retries=1)
    sim.configure(errors={"next": [{"kind": "drop", "count": 5}]})
    with pytest.raises(MetaTransportError) as caught:
        client.get_waba(WABA)
    assert isinstance(caught.value, MetaRateLimited)
    assert caught.value.retry_after == 2.0


def test_retry_after_header_replaces_the_jittered_wait(sim, client, sleeps):
    sim.configure(errors={"next": [{"kind": "429", "retry_after": 7}]})
    client.get_waba(WABA)
    assert sleeps == [7.0]
    assert sim.calls == 2


def test_retry_after_longer_than_max_backoff_raises_without_sleeping(sim, make_client, sleeps):
    client = make_client(max_backoff=5.0)
    sim.configure(errors={"next": [{"kind": "429", "retry_after": 120}]})
    with pytest.raises(MetaRateLimited) as caught:
        client.get_waba(WABA)
    assert caught.value.retry_after == 120.0
    assert sleeps == []
    assert sim.calls == 1


def test_business_use_case_regain_time_is_minutes(sim, client, sleeps):
    sim.configure(errors={"next": [{"kind": "80008", "regain_minutes": 5}]})
    with pytest.raises(MetaRateLimited) as caught:
        client.list_phone_numbers(WABA)
    assert caught.value.retry_after == 300.0  # 5 minutes > max_backoff 30 s
    assert sleeps == []
    (usage,) = client.usage(WABA)
    assert usage.estimated_time_to_regain_access_minutes == 5


def test_short_regain_time_is_waited_inside_the_call(sim, make_client, sleeps):
    client = make_client(max_backoff=120.0)
    sim.configure(errors={"next": [{"kind": "80007", "regain_minutes": 1}]})
    assert client.get_waba(WABA).id == WABA
    assert sleeps == [60.0]


def test_rate_limit_in_the_middle_of_paging_resumes(sim, make_client, sleeps):
    client = make_client(page_size=2)
    # The first page passes, the second is throttled once, then paging carries on.
    sim.configure(errors={"next": [{"kind": "80008", "skip": 1}]})
    numbers = client.list_phone_numbers(WABA)
    assert [n.id for n in numbers] == [f"200000000{i}" for i in range(1, 6)]
    assert [entry["status"] for entry in sim.state.request_log] == [200, 400, 200, 200]
    assert sleeps == [1.0]


def test_scenario_rate_limit_per_hour_answers_80007(scenario, sleeps):
    from portal.meta.simulator import SimulatorServer

    scenario["rate_limit_per_hour"] = 2
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token=TOKEN, base_url=sim.url, sleep=sleeps.append) as client,
    ):
        client.get_waba(WABA)
        client.get_waba(WABA)
        with pytest.raises(MetaRateLimited) as caught:
            client.get_waba(WABA)
        assert caught.value.code == 80007
        assert caught.value.retry_after == 3600.0  # 60 minutes to regain access
        sim.advance(3601)
        assert client.get_waba(WABA).id == WABA


def test_invalid_token_is_an_auth_error_without_retry(sim, make_client, sleeps):
    client = make_client(token="wrong-token")
    with pytest.raises(MetaAuthError) as caught:
        client.get_waba(WABA)
    error = caught.value
    assert error.code == 190
    assert error.http_status == 401
    assert error.error_type == "OAuthException"
    assert error.fbtrace_id
    assert "token" in error.plain_message
    assert sleeps == []
    assert sim.calls == 1


def test_unknown_object_is_not_found(client):
    with pytest.raises(MetaNotFound) as caught:
        client.get_phone_number("999")
    assert caught.value.code == 100
    assert caught.value.subcode == 33
    assert caught.value.error_type == "GraphMethodException"


def test_invalid_parameter_keeps_meta_code_and_details(client):
    from portal.meta.types import TemplateCategory

    with pytest.raises(MetaError) as caught:
        client.create_template(
            WABA,
            name="Bad Name",
            language="en_US",
            category=TemplateCategory.UTILITY,
            components=[{"type": "BODY", "text": "Hello there friend"}],
        )
    assert type(caught.value) is MetaError
    assert caught.value.code == 100
    assert caught.value.http_status == 400
    assert "lowercase" in caught.value.details
    assert caught.value.plain_message == "Meta rejected a parameter of the request."


@pytest.mark.parametrize(
    ("code", "subcode", "cls", "words"),
    [
        (190, None, MetaAuthError, "expired"),
        (10, None, MetaAuthError, "permission"),
        (200, None, MetaAuthError, "permission"),
        (299, None, MetaAuthError, "permission"),
        (3, None, MetaAuthError, "capability"),
        (0, None, MetaAuthError, "token"),
        (4, None, MetaRateLimited, "Too many calls"),
        (80007, None, MetaRateLimited, "rate limit"),
        (100, 33, MetaNotFound, "could not find"),
        (100, 2388040, MetaError, "longer than Meta allows"),
        (100, 2388047, MetaError, "header"),
        (100, 2388072, MetaError, "body"),
        (100, 2388073, MetaError, "footer"),
        (100, 2388293, MetaError, "too many parameters"),
        (100, 2388299, MetaError, "start or end with a parameter"),
        (100, 2388039, MetaError, "once per 24 hours and 10 times per 30 days"),
        (100, 2388019, MetaError, "limit of message templates"),
        (131049, None, MetaError, "healthy"),
        (368, None, MetaError, "policy violation"),
    ],
)
def test_error_mapping_and_plain_words(code, subcode, cls, words):
    body = {
        "error": {
            "message": f"(#{code}) Something",
            "type": "OAuthException",
            "code": code,
            "error_subcode": subcode,
            "error_data": {"messaging_product": "whatsapp", "details": "More detail"},
            "fbtrace_id": "AbC123",
            "is_transient": False,
        }
    }
    error = error_from_body(body, 400)
    assert type(error) is cls
    assert (error.code, error.subcode, error.details, error.fbtrace_id) == (
        code,
        subcode,
        "More detail",
        "AbC123",
    )
    assert words in error.plain_message
    assert error.is_transient is False


def test_unreadable_error_body_still_maps():
    error = error_from_body(None, 502)
    assert type(error) is MetaError
    assert error.http_status == 502
    assert error.code is None
    assert error.plain_message == "HTTP 502"


def test_transient_errors_are_retried(sim, client, sleeps):
    sim.configure(errors={"next": [{"kind": "503"}]})  # code 2, is_transient
    client.get_waba(WABA)
    assert sleeps == [1.0]


def test_the_token_is_never_logged(sim, make_client, caplog):
    client = make_client()
    sim.configure(errors={"next": [{"kind": "429", "count": 2}]})
    with caplog.at_level(logging.DEBUG):
        client.list_templates(WABA)
        with pytest.raises(MetaAuthError) as caught:
            make_client(token="other-bad-token-XYZ").get_waba(WABA)
    assert "retry 1/3" in caplog.text
    assert TOKEN not in caplog.text
    assert "other-bad-token-XYZ" not in caplog.text
    assert "other-bad-token-XYZ" not in str(caught.value)
