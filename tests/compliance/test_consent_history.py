"""Consent history is evidence: rows are written once, never updated or deleted."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import AppendOnlyError, ConsentEvent, Contact, MessagingPolicy


@pytest.fixture
def alice_event(acme):
    with schema_context(acme.schema_name):
        alice = Contact.objects.create(phone="+447911123456", name="Alice Archer")
        return ConsentEvent.objects.create(
            contact=alice,
            category="marketing",
            kind="opt_in",
            source="web_form",
            wording="Yes, Acme Retail may send me offers on WhatsApp.",
            wording_version="v3",
            occurred_at=timezone.now(),
            dedupe_key="alice-web-form-1",
        )


def test_a_history_row_cannot_be_saved_again(acme, alice_event):
    with schema_context(acme.schema_name):
        alice_event.wording = "something else"
        with pytest.raises(AppendOnlyError):
            alice_event.save()
        assert ConsentEvent.objects.get().wording.startswith("Yes, Acme Retail")


def test_a_history_row_cannot_be_deleted(acme, alice_event):
    with schema_context(acme.schema_name):
        with pytest.raises(AppendOnlyError):
            alice_event.delete()
        with pytest.raises(AppendOnlyError):
            ConsentEvent.objects.all().delete()
        assert ConsentEvent.objects.count() == 1


def test_history_rows_cannot_be_updated_in_bulk(acme, alice_event):
    with schema_context(acme.schema_name):
        with pytest.raises(AppendOnlyError):
            ConsentEvent.objects.filter(pk=alice_event.pk).update(kind="opt_out")
        with pytest.raises(AppendOnlyError):
            ConsentEvent.objects.bulk_update([alice_event], ["kind"])
        assert ConsentEvent.objects.get().kind == "opt_in"


def test_a_contact_with_history_cannot_be_deleted(acme, alice_event):
    from django.db.models import ProtectedError

    with schema_context(acme.schema_name), pytest.raises(ProtectedError):
        Contact.objects.get().delete()


def test_policy_defaults_before_anyone_changes_them(acme):
    with schema_context(acme.schema_name):
        policy = MessagingPolicy.current()
        assert policy.opt_out_keywords == ["STOP", "UNSUBSCRIBE", "STOPP", "ARRET", "BAJA", "PARAR"]
        assert "stop" in policy.keyword_set()
        assert (policy.marketing_cap, policy.window_days) == (2, 7)
