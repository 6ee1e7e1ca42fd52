"""GraphClient reads against the simulator over real HTTP: fields, enums, paging, health."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.meta.client import PHONE_NUMBER_FIELDS, TEMPLATE_FIELDS, WABA_FIELDS, GraphClient
from portal.meta.simulator import SimulatorServer
from portal.meta.types import (
    BusinessVerification,
    CanSend,
    CodeVerification,
    MessagingLimit,
    NameStatus,
    NumberStatus,
    Quality,
    ReviewStatus,
    TemplateCategory,
    TemplateStatus,
    ThroughputLevel,
)
from tests.meta.conftest import START, TOKEN, WABA


def test_get_waba_maps_fields_enums_and_health(client):
    waba = client.get_waba(WABA)

    assert waba.id == WABA
    assert waba.name == "Test Co"
    assert waba.currency == "USD"
    assert waba.timezone_id == "1"
    assert waba.message_template_namespace == "test_ns"
    assert waba.review_status is ReviewStatus.APPROVED
    assert waba.business_verification is BusinessVerification.VERIFIED
    assert waba.health.can_send is CanSend.AVAILABLE
    assert [e.entity_type for e in waba.health.entities] == ["WABA", "BUSINESS", "APP"]
    assert waba.raw["account_review_status"] == "APPROVED"


def test_reads_request_the_documented_fields(sim):
    class Spy(httpx.BaseTransport):
        def __init__(self):
            self.urls = []
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request):
            self.urls.append(str(request.url))
            return self.inner.handle_request(request)

    spy = Spy()
    with GraphClient(token=TOKEN, base_url=sim.url, version="v24.0", transport=spy) as spied:
        spied.get_waba(WABA)
        spied.list_phone_numbers(WABA)
        spied.list_templates(WABA)
    fields = [parse_qs(urlsplit(url).query)["fields"][0] for url in spy.urls]
    assert fields == [WABA_FIELDS, PHONE_NUMBER_FIELDS, TEMPLATE_FIELDS]
    assert [urlsplit(url).path for url in spy.urls] == [
        f"/v24.0/{WABA}",
        f"/v24.0/{WABA}/phone_numbers",
        f"/v24.0/{WABA}/message_templates",
    ]
    assert "limit=100" in spy.urls[1]


def test_get_phone_number_maps_every_field(client):
    number = client.get_phone_number("2000000001")

    assert number.id == "2000000001"
    assert number.display_phone_number == "+1 555-000-0001"
    assert number.verified_name == "Test Co"
    assert number.status is NumberStatus.CONNECTED
    assert number.quality is Quality.HIGH
    assert number.messaging_limit is MessagingLimit.TIER_10K
    assert number.throughput is ThroughputLevel.STANDARD
    assert number.name_status is NameStatus.APPROVED
    assert number.new_display_name is None
    assert number.new_name_status is None
    assert number.code_verification is CodeVerification.VERIFIED
    assert number.platform_type == "CLOUD_API"
    assert number.account_mode == "LIVE"
    assert number.health.can_send is CanSend.AVAILABLE
    assert number.health.entities[0].entity_type == "PHONE_NUMBER"


def test_unknown_enum_values_map_to_unknown_and_stay_in_raw(scenario, sleeps):
    number = scenario["wabas"][0]["phone_numbers"][0]
    number.update(
        status="SUPER_CONNECTED",
        quality_rating="PURPLE",
        whatsapp_business_manager_messaging_limit="TIER_5M",
        throughput={"level": "WARP"},
        name_status="SOMETHING_NEW",
        new_name_status="ALSO_NEW",
        new_display_name="Test Co New",
    )
    scenario["wabas"][0]["account_review_status"] = "UNDER_SPECIAL_REVIEW"
    template = scenario["wabas"][0]["message_templates"][0]
    template.update(category="TRANSACTIONAL", status="SUNSET", quality="ORANGE")
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token=TOKEN, base_url=sim.url, sleep=sleeps.append) as client,
    ):
        number_info = client.get_phone_number("2000000001")
        waba = client.get_waba(WABA)
        template_info = client.get_template("3000000001")

    assert number_info.status is NumberStatus.UNKNOWN
    assert number_info.raw["status"] == "SUPER_CONNECTED"
    assert number_info.quality is Quality.UNKNOWN
    assert number_info.raw["quality_rating"] == "PURPLE"
    assert number_info.messaging_limit is MessagingLimit.UNKNOWN
    assert number_info.throughput is ThroughputLevel.UNKNOWN
    assert number_info.name_status is NameStatus.UNKNOWN
    assert number_info.new_name_status is NameStatus.UNKNOWN
    assert number_info.new_display_name == "Test Co New"
    assert waba.review_status is ReviewStatus.UNKNOWN
    assert waba.raw["account_review_status"] == "UNDER_SPECIAL_REVIEW"
    assert template_info.category is TemplateCategory.UNKNOWN
    assert template_info.status is TemplateStatus.UNKNOWN
    assert template_info.quality is Quality.UNKNOWN
    assert template_info.raw["status"] == "SUNSET"


def test_messaging_limit_falls_back_to_the_legacy_tier(scenario, sleeps):
    number = scenario["wabas"][0]["phone_numbers"][0]
    number["whatsapp_business_manager_messaging_limit"] = None
    number["messaging_limit_tier"] = "TIER_1K"
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token=TOKEN, base_url=sim.url, sleep=sleeps.append) as client,
    ):
        info = client.get_phone_number("2000000001")
    assert "whatsapp_business_manager_messaging_limit" not in info.raw
    assert info.messaging_limit is MessagingLimit.TIER_1K


def test_health_is_the_worst_entity_ignoring_calling_fields(scenario, sleeps):
    scenario["wabas"][0]["phone_numbers"][0]["health_status"] = {
        "can_send_message": "BLOCKED",  # only because SIP calling is not set up
        "entities": [
            {
                "entity_type": "PHONE_NUMBER",
                "id": "2000000001",
                "can_send_message": "AVAILABLE",
                "can_receive_call_sip": "BLOCKED",
            },
            {"entity_type": "WABA", "id": WABA, "can_send_message": "AVAILABLE"},
            {
                "entity_type": "BUSINESS",
                "id": "9000000001",
                "can_send_message": "LIMITED",
                "errors": [{"error_code": 141010, "error_description": "Not verified."}],
            },
            {"entity_type": "APP", "id": "1", "can_send_message": "AVAILABLE"},
        ],
    }
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token=TOKEN, base_url=sim.url, sleep=sleeps.append) as client,
    ):
        health = client.get_phone_number("2000000001").health
    assert health.can_send is CanSend.LIMITED
    assert health.entities[2].errors[0]["error_code"] == 141010


def test_banned_waba_health_is_blocked(sim, client):
    sim.apply({"type": "ban", "waba_id": WABA, "state": "DISABLE"})
    health = client.get_phone_number("2000000002").health
    assert health.can_send is CanSend.BLOCKED
    waba_entity = next(e for e in health.entities if e.entity_type == "WABA")
    assert waba_entity.errors[0]["error_code"] == 141014


def test_list_phone_numbers_follows_paging_next(sim, make_client):
    client = make_client(page_size=2)
    numbers = client.list_phone_numbers(WABA)

    assert [n.id for n in numbers] == [f"200000000{i}" for i in range(1, 6)]
    assert sim.calls == 3  # pages of 2, 2, 1
    assert [entry["path"] for entry in sim.state.request_log] == [
        f"/v24.0/{WABA}/phone_numbers"
    ] * 3


def test_list_templates_pages_and_maps_quality_score(sim, make_client):
    client = make_client(page_size=3)
    templates = client.list_templates(WABA)

    assert [t.name for t in templates] == [f"template_{i}" for i in range(1, 8)]
    assert sim.calls == 3
    first = templates[0]
    assert first.id == "3000000001"
    assert first.language == "en_US"
    assert first.category is TemplateCategory.UTILITY
    assert first.status is TemplateStatus.APPROVED
    assert first.quality is Quality.HIGH
    assert first.quality_updated_at == datetime.fromtimestamp(START - 100, tz=UTC)
    assert first.parameter_format == "positional"
    assert first.rejected_reason == "NONE"
    assert first.components[0]["type"] == "BODY"
    assert first.raw["quality_score"] == {"score": "GREEN", "date": START - 100}


def test_paging_next_token_is_stripped_and_kept_on_our_host(sim, client):
    url = "https://graph.facebook.com/v24.0/1/phone_numbers?limit=2&access_token=SECRET&after=MQ=="
    safe = client._safe_next_url(url)
    assert safe == f"{sim.url}/v24.0/1/phone_numbers?limit=2&after=MQ%3D%3D"


def test_usage_keeps_the_last_business_use_case_header(client):
    assert client.usage(WABA) == []
    client.get_waba(WABA)
    client.get_phone_number("2000000001")
    (usage,) = client.usage(WABA)
    assert usage.business_id == WABA
    assert usage.use_case == "whatsapp_business_management"
    assert usage.call_count == 1  # 2 calls of 5,000 per hour, rounded up to a percent
    assert usage.estimated_time_to_regain_access_minutes == 0


def test_get_template_by_id(client):
    template = client.get_template("3000000002")
    assert template.name == "template_2"
    assert template.status is TemplateStatus.APPROVED


def test_client_reads_settings_by_default(settings, sim):
    settings.META_GRAPH_URL = sim.url
    settings.META_API_VERSION = "v99.0"
    settings.META_MAX_RETRIES = 7
    with GraphClient(token=TOKEN) as client:
        assert client.get_waba(WABA).id == WABA
        assert client.max_retries == 7
    assert sim.state.request_log[-1]["path"] == f"/v99.0/{WABA}"


def test_token_is_not_in_repr(client):
    assert TOKEN not in repr(client)


@pytest.mark.parametrize("category", [TemplateCategory.UNKNOWN])
def test_create_refuses_unknown_category(client, category):
    with pytest.raises(ValueError, match="category"):
        client.create_template(WABA, name="x", language="en_US", category=category, components=[])
