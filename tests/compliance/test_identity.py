"""One identity per person: phone, BSUID and username resolve to one contact; an opt-out with
only a BSUID suppresses the same person's phone; Meta's user-id change merges and keeps history."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in, consent_record_opt_out
from compliance.identity import (
    bsuid_validate,
    contact_identity_change,
    contact_resolve,
    username_validate,
)
from compliance.models import ConsentEvent, ConsentState, Contact, ContactIdentityChange
from compliance.presend import presend_check
from tests.assets import ACME_PHONE

ALICE = "+447911123456"
ALICE_ID = "GB.13491208655302741918"
ALICE_NEW_ID = "GB.20800000000000000001"


@pytest.fixture
def in_acme(acme, acme_number):
    with schema_context(acme.schema_name):
        yield acme_number


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Give a WhatsApp user id"),
        ("us.123", "two-letter country code in capitals"),
        ("US." + "1" * 129, "up to 128 letters or digits"),
        ("US.12-34", "not a WhatsApp user id"),
        ("US.ENT.1189", "parent user id"),
    ],
)
def test_malformed_bsuids_get_a_clear_error(raw, message):
    with pytest.raises(ValueError, match=message):
        bsuid_validate(raw)


def test_valid_bsuids_and_usernames():
    assert bsuid_validate(" US.13491208655302741918 ") == "US.13491208655302741918"
    assert bsuid_validate("US." + "a" * 128) == "US." + "a" * 128
    assert username_validate("@alice.archer_1") == "alice.archer_1"
    for bad in ("al", "a" * 36, "Alice", "al ice"):
        with pytest.raises(ValueError, match="not a WhatsApp username"):
            username_validate(bad)


def test_identifiers_of_one_person_resolve_to_one_contact_and_merge(in_acme):
    by_phone = contact_resolve(phone=ALICE, create=True)
    opt_in = consent_record_opt_in(phone=ALICE, category="marketing", source="web_form")
    by_id = contact_resolve(bsuid=ALICE_ID, username="alice", create=True)
    assert by_id.pk != by_phone.pk  # nothing linked them yet

    # a webhook carries both: they are one person
    merged = contact_resolve(phone=ALICE, bsuid=ALICE_ID)

    assert merged.pk == by_phone.pk
    assert (merged.phone, merged.bsuid, merged.username) == (ALICE, ALICE_ID, "alice")
    assert not Contact.objects.filter(pk=by_id.pk).exists()
    assert list(ConsentEvent.objects.filter(contact=merged)) == opt_in


def test_an_opt_out_with_only_a_bsuid_suppresses_the_phone(in_acme):
    consent_record_opt_in(phone=ALICE, category="marketing", source="web_form")
    contact_resolve(phone=ALICE, bsuid=ALICE_ID)  # a messages webhook linked them

    consent_record_opt_out(bsuid=ALICE_ID, category="marketing", source="whatsapp_keyword")

    decision = presend_check(recipient=ALICE, phone_number_id=ACME_PHONE, category="marketing")
    assert [r.code for r in decision.reasons] == ["opted_out"]
    by_id = presend_check(recipient=ALICE_ID, phone_number_id=ACME_PHONE, category="marketing")
    assert [r.code for r in by_id.reasons] == ["opted_out"]


def test_a_bsuid_alone_becomes_a_contact(in_acme):
    events = consent_record_opt_out(bsuid=ALICE_ID, category="all", source="staff")
    contact = Contact.objects.get(bsuid=ALICE_ID)
    assert contact.phone is None
    assert {e.contact_id for e in events} == {contact.pk}
    with pytest.raises(ValueError, match="not a WhatsApp user id"):
        consent_record_opt_out(bsuid="GB-1", category="marketing", source="staff")
    assert Contact.objects.count() == 1  # nothing stored for the bad one


def test_user_id_change_moves_the_person_to_the_new_bsuid_keeping_history(in_acme):
    consent_record_opt_in(phone=ALICE, category="marketing", source="web_form")
    contact = contact_resolve(phone=ALICE, bsuid=ALICE_ID)
    # the new id was already seen alone (an early webhook), with an opt-out
    consent_record_opt_out(bsuid=ALICE_NEW_ID, category="utility", source="staff")

    changed = contact_identity_change(
        previous_bsuid=ALICE_ID,
        bsuid=ALICE_NEW_ID,
        phone="+447911123499",
        occurred_at=timezone.now(),
        key="change-1",
    )
    again = contact_identity_change(
        previous_bsuid=ALICE_ID, bsuid=ALICE_NEW_ID, phone="+447911123499", key="change-1"
    )

    assert changed.pk == again.pk == contact.pk
    assert (changed.bsuid, changed.phone) == (ALICE_NEW_ID, "+447911123499")
    assert Contact.objects.count() == 1
    states = dict(ConsentState.objects.filter(contact=changed).values_list("category", "status"))
    assert states == {"marketing": "opted_in", "utility": "opted_out"}
    assert ConsentEvent.objects.filter(contact=changed).count() == 2
    history = ContactIdentityChange.objects.get(contact=changed)
    assert (history.previous_bsuid, history.bsuid, history.previous_phone, history.phone) == (
        ALICE_ID,
        ALICE_NEW_ID,
        ALICE,
        "+447911123499",
    )


def test_identities_are_per_client(in_acme, globex):
    contact_resolve(phone=ALICE, bsuid=ALICE_ID, create=True)
    with schema_context(globex.schema_name):
        assert contact_resolve(bsuid=ALICE_ID) is None
        assert Contact.objects.filter(bsuid=ALICE_ID).count() == 0


def test_consent_pages_show_and_find_bsuid_only_contacts(web, acme, acme_viewer, globex_owner):
    with schema_context(acme.schema_name):
        consent_record_opt_out(bsuid=ALICE_ID, category="marketing", source="staff")
    http = web(acme, acme_viewer)
    listing = http.get("/contacts/").content.decode()
    assert f'href="/contacts/{ALICE_ID}/"' in listing
    detail = http.get(f"/contacts/{ALICE_ID}/")
    assert detail.status_code == 200
    assert f"<h1>{ALICE_ID}</h1>" in detail.content.decode()
    assert ALICE_ID in http.get("/contacts/", {"q": ALICE_ID}).content.decode()
    assert web(acme, globex_owner).get(f"/contacts/{ALICE_ID}/").status_code in (302, 403)
