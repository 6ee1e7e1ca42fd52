"""The portfolio gauge on the dashboard and number page, the `portfolio/` endpoint, the consent
API and send-check with BSUIDs, and the usage watch task: each for the right client only."""

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import Contact
from compliance.portfolio import account_portfolio_set
from compliance.tasks import portfolio_usage_watch
from tests.assets import ACME_PHONE
from tests.factories.platform import SentFactory

ALICE_ID = "GB.13491208655302741918"


def seed_usage(acme, acme_number, *, limit="tier_250", sent=210):
    with schema_context(acme.schema_name):
        portfolio = account_portfolio_set(
            account=acme_number.account, business_id="5110000001", name="Acme Group"
        )
        portfolio.messaging_limit = limit
        portfolio.max_phone_numbers = 2
        portfolio.save()
        now = timezone.now()
        for n in range(sent):
            SentFactory(number=acme_number, recipient=f"4479110{n:05d}", occurred_at=now)
        return portfolio


def test_dashboard_and_number_page_show_the_gauge(web, acme, acme_owner, acme_number):
    seed_usage(acme, acme_number)
    http = web(acme, acme_owner)
    for page in ("/", f"/numbers/{acme_number.pk}/"):
        content = http.get(page).content.decode()
        assert "Messaging limit · Acme Group" in content
        assert '<meter min="0" max="250"' in content
        assert "<strong>210 of 250</strong> new recipients" in content
        assert "Over 80% of the limit is used" in content
        assert "1 of 2 the portfolio may register" in content


def test_another_clients_pages_show_no_gauge(web, acme, globex, globex_owner, acme_number):
    seed_usage(acme, acme_number)
    content = web(globex, globex_owner).get("/").content.decode()
    assert "Messaging limit ·" not in content
    assert web(globex, globex_owner).get(f"/numbers/{acme_number.pk}/").status_code == 404


def test_the_portfolio_endpoint(api, acme, globex, acme_viewer, globex_owner, acme_number):
    seed_usage(acme, acme_number, sent=30)
    response = api(acme, acme_viewer).get("/api/v1/portfolio/")
    assert response.status_code == 200
    [row] = response.json()
    assert {k: row[k] for k in ("id", "name", "limit", "used", "remaining", "percent")} == {
        "id": "5110000001",
        "name": "Acme Group",
        "limit": 250,
        "used": 30,
        "remaining": 220,
        "percent": 12,
    }
    assert (row["max_phone_numbers"], row["phone_numbers"]) == (2, 1)
    assert api(globex, globex_owner).get("/api/v1/portfolio/").json() == []


def test_send_check_reports_headroom_and_accepts_bsuids(api, acme, acme_viewer, acme_number):
    seed_usage(acme, acme_number, limit="tier_50", sent=50)
    http = api(acme, acme_viewer)
    body = {
        "recipients": ["+447911123456", ALICE_ID, "GB.12-34"],
        "category": "utility",
        "phone_number_id": ACME_PHONE,
    }
    answer = http.post("/api/v1/send-check/", body, format="json").json()
    assert [r["recipient"] for r in answer["results"]] == ["+447911123456", ALICE_ID, "GB.12-34"]
    assert answer["results"][2]["reasons"][-1]["code"] == "invalid_recipient"
    assert answer["portfolio"]["remaining"] == 0
    bad = http.post(
        "/api/v1/send-check/",
        {"recipient": ALICE_ID, "category": "sms", "phone_number_id": ACME_PHONE},
        format="json",
    )
    assert bad.status_code == 400


def test_consent_api_records_a_bsuid_opt_out_and_rejects_malformed_ones(
    api, acme, acme_admin, acme_number
):
    http = api(acme, acme_admin)
    ok = http.post("/api/v1/opt-outs/", {"bsuid": ALICE_ID, "category": "marketing"}, format="json")
    assert ok.status_code == 201
    assert ok.json()["recorded"][0]["bsuid"] == ALICE_ID
    bad = http.post("/api/v1/opt-outs/", {"bsuid": "gb.1", "category": "marketing"}, format="json")
    assert bad.status_code == 400
    assert "two-letter country code" in str(bad.json())
    none = http.post("/api/v1/opt-outs/", {"category": "marketing"}, format="json")
    assert none.status_code == 400
    with schema_context(acme.schema_name):
        assert list(Contact.objects.values_list("bsuid", flat=True)) == [ALICE_ID]
    contact = http.get(f"/api/v1/contacts/{ALICE_ID}/").json()
    assert (contact["bsuid"], contact["states"]["marketing"]) == (ALICE_ID, "opted_out")


def test_the_usage_watch_task_acts_in_its_own_schema_only(acme, globex, acme_number):
    seed_usage(acme, acme_number, limit="tier_250", sent=210)
    connection.set_tenant(globex)
    assert portfolio_usage_watch.apply().get() == {"schema": globex.schema_name, "portfolios": {}}
    connection.set_tenant(acme)
    result = portfolio_usage_watch.apply().get()
    assert result == {"schema": acme.schema_name, "portfolios": {"5110000001": 210}}


def test_the_usage_watch_task_refuses_to_run_without_a_schema(acme):
    import pytest

    connection.set_schema_to_public()
    with pytest.raises(Exception, match="schema"):
        portfolio_usage_watch.apply().get()


def test_the_error_codes_endpoint_for_members_only(api, acme, acme_viewer, globex_owner):
    rows = api(acme, acme_viewer).get("/api/v1/error-codes/").json()
    by_code = {row["code"]: row for row in rows}
    assert by_code[131050]["portal_does"] == (
        "Records the opt-out; marketing to this person is refused from now on."
    )
    assert {131026, 131056, 130429, 368, 132000} <= set(by_code)
    assert api(acme, globex_owner).get("/api/v1/error-codes/").status_code == 403


def test_accounts_carry_their_portfolios_limit_usage_and_scaling_state(
    api,
    acme,
    globex,
    acme_viewer,
    globex_owner,
    acme_number,
    globex_waba,
    django_assert_num_queries,
    django_assert_max_num_queries,
):
    from compliance.models import WhatsAppAccount
    from compliance.portfolio import portfolio_scaling_set

    portfolio = seed_usage(acme, acme_number, sent=30)
    with schema_context(acme.schema_name):
        portfolio_scaling_set(
            portfolio=portfolio, state="deferred", stated_at=timezone.now(), key="scaling-1"
        )
    http = api(acme, acme_viewer)
    http.get("/api/v1/accounts/")  # the session's and the tenant's first look-ups done
    with django_assert_max_num_queries(8) as one_account:
        [row] = http.get("/api/v1/accounts/").json()["results"]
    queries = len(one_account)  # read now: the next request resets Django's query log

    assert row["portfolio"] == {
        "id": "5110000001",
        "name": "Acme Group",
        "messaging_limit": "tier_250",
        "limit_words": "250 recipients a day",
        "limit": 250,
        "used": 30,
        "remaining": 220,
        "percent": 12,
        "measured_at": row["portfolio"]["measured_at"],
        "max_phone_numbers": 2,
        "scaling_state": "deferred",
        "scaling_label": "Decision deferred",
    }
    detail = http.get(f"/api/v1/accounts/{acme_number.account_id}/").json()
    assert detail["portfolio"]["used"] == 30
    # More accounts, one of them without a portfolio yet: the same number of queries.
    with schema_context(acme.schema_name):
        for n in range(3):
            WhatsAppAccount.objects.create(meta_id=f"77700000{n}", name=f"Extra {n}")
    with django_assert_num_queries(queries):
        rows = http.get("/api/v1/accounts/").json()["results"]
    assert [r["portfolio"] and r["portfolio"]["used"] for r in rows] == [30, None, None, None]

    # Another client sees its own account, with no portfolio, and never acme's.
    globex_http = api(globex, globex_owner)
    [other] = globex_http.get("/api/v1/accounts/").json()["results"]
    assert (other["waba_id"], other["portfolio"]) == (globex_waba.meta_id, None)
    # Ids are per schema: an id only acme has is not found for globex.
    assert globex_http.get(f"/api/v1/accounts/{rows[-1]['id']}/").status_code == 404
