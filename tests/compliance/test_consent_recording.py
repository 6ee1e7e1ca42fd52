"""Contacts by E.164, opt-ins and opt-outs recorded with evidence, state per category."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import (
    Evidence,
    consent_record_opt_in,
    consent_record_opt_out,
    contact_normalize,
)
from compliance.models import ConsentEvent, ConsentState, Contact
from portal.audit.models import AuditLog


def states(client):
    with schema_context(client.schema_name):
        return dict(
            ConsentState.objects.filter(contact__phone="+447911123456").values_list(
                "category", "status"
            )
        )


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+44 7911 123456", None, "+447911123456"),
        ("+1 (415) 555-0132", "GB", "+14155550132"),
        ("07911 123456", "GB", "+447911123456"),
        ("(415) 555-0132", "US", "+14155550132"),
        ("030 901820", "DE", "+4930901820"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, region, e164):
    assert contact_normalize(raw, default_region=region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "GB", "Give a phone number."),
        ("hello", "GB", "is not a phone number"),
        ("+44 1", None, "too short"),
        ("+44 12345 678901", None, "is not a valid phone number"),
        ("07911 123456", None, "no country code"),
        ("+1 555 0100", None, "is not a valid phone number"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(raw, region, reason):
    with pytest.raises(ValueError, match=reason):
        contact_normalize(raw, default_region=region)


def test_a_national_number_uses_the_clients_region(acme, acme_owner):
    acme.default_region = "GB"
    acme.save(update_fields=["default_region"])
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone="07911 123456",
            category="marketing",
            source="web_form",
            evidence=Evidence(wording="Offers from Acme Retail", wording_version="v1"),
            actor=acme_owner,
        )
        assert Contact.objects.get().phone == "+447911123456"


def test_opt_in_records_evidence_state_and_audit(acme, acme_owner):
    with schema_context(acme.schema_name):
        [event] = consent_record_opt_in(
            phone="+447911123456",
            category="marketing",
            source="web_form",
            evidence=Evidence(
                wording="Yes, Acme Retail may send me offers on WhatsApp.",
                wording_version="v3",
                page_url="https://acme.example/signup",
                ip_address="203.0.113.9",
                user_agent="Firefox/140",
            ),
            actor=acme_owner,
        )
        event = ConsentEvent.objects.get(pk=event.pk)
        assert (event.kind, event.source, event.wording_version, event.ip_address) == (
            "opt_in",
            "web_form",
            "v3",
            "203.0.113.9",
        )
        assert event.actor_label == acme_owner.email
    assert states(acme) == {"marketing": "opted_in"}
    audit = AuditLog.objects.get(action="consent.opt_in")
    assert (audit.actor, audit.client) == (acme_owner, acme)


def test_consent_is_scoped_per_category(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_in(phone="+447911123456", category="marketing", source="checkout")
        consent_record_opt_in(phone="+447911123456", category="utility", source="checkout")
        consent_record_opt_out(phone="+447911123456", category="marketing", source="staff")
    assert states(acme) == {"marketing": "opted_out", "utility": "opted_in"}


def test_opt_out_of_all_categories(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_in(phone="+447911123456", category="utility", source="checkout")
        events = consent_record_opt_out(phone="+447911123456", category="all", source="staff")
    assert len(events) == 3
    assert states(acme) == {
        "marketing": "opted_out",
        "utility": "opted_out",
        "authentication": "opted_out",
    }


def test_same_source_id_is_recorded_once(acme):
    with schema_context(acme.schema_name):
        first = consent_record_opt_out(
            phone="+447911123456", category="marketing", source="api", source_id="req-1"
        )
        again = consent_record_opt_out(
            phone="+447911123456", category="marketing", source="api", source_id="req-1"
        )
        assert (len(first), again, ConsentEvent.objects.count()) == (1, [], 1)


def test_a_late_older_opt_in_does_not_undo_a_newer_opt_out(acme):
    now = timezone.now()
    with schema_context(acme.schema_name):
        consent_record_opt_out(
            phone="+447911123456", category="marketing", source="staff", occurred_at=now
        )
        consent_record_opt_in(
            phone="+447911123456",
            category="marketing",
            source="import",
            occurred_at=now - timedelta(days=3),
        )
        assert ConsentEvent.objects.count() == 2
    assert states(acme) == {"marketing": "opted_out"}


def test_unknown_category_or_source_is_refused(acme):
    with schema_context(acme.schema_name):
        with pytest.raises(ValueError, match="Unknown category"):
            consent_record_opt_in(phone="+447911123456", category="all", source="api")
        with pytest.raises(ValueError, match="Unknown consent source"):
            consent_record_opt_in(phone="+447911123456", category="marketing", source="fax")
        assert Contact.objects.count() == 0
