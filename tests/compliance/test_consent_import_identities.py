"""The consent import reads BSUIDs and usernames beside phones: each row lands on the person its
identifiers name (one contact per person, linked contacts merged, history kept), malformed ids
are row errors in plain words, re-imports add nothing, and a BSUID-only opt-out suppresses the
same person's phone. The contacts of a chunk are resolved in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in
from compliance.identity import contact_resolve
from compliance.imports import import_preview
from compliance.models import ConsentEvent, ConsentState, Contact
from compliance.presend import presend_check
from tests.assets import ACME_PHONE
from tests.compliance.test_consent_import import error_rows, run_import, upload

ALICE = "+447911123456"
ALICE_ID = "GB.13491208655302741918"
BOB_ID = "GB.20800000000000000002"
CAROL_ID = "US.30000000000000000003"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def identities(client):
    with schema_context(client.schema_name):
        return sorted(
            Contact.objects.values_list("phone", "bsuid", "username"),
            key=lambda ids: tuple(v or "" for v in ids),
        )


def states(client):
    with schema_context(client.schema_name):
        return sorted(
            (
                s.contact.phone or "",
                s.contact.bsuid or "",
                s.contact.username or "",
                s.category,
                s.status,
            )
            for s in ConsentState.objects.select_related("contact")
        )


MIXED = (
    "phone,bsuid,username,category,action,name\n"
    f",{BOB_ID},,marketing,opt_in,Bob\n"  # BSUID only: a new contact
    ",,carol.c,utility,opt_in,Carol\n"  # username only
    f"{ALICE},{ALICE_ID},,marketing,opt_in,Alice\n"  # phone and BSUID: one contact
    f",{ALICE_ID},,utility,opt_out,\n"  # the same person by BSUID alone
    f",{BOB_ID},@bob_b,utility,opt_in,\n"  # Bob's username joins Bob
    ",us.123,,marketing,opt_in,\n"  # malformed BSUID
    ",,Not A Name,marketing,opt_in,\n"  # malformed username
    ",,,marketing,opt_in,Nobody\n"  # no identifier at all
    f"12345,{CAROL_ID},,marketing,opt_in,\n"  # a bad phone is an error even with a BSUID
)


def test_rows_name_their_person_by_phone_bsuid_or_username(acme):
    job = run_import(acme, MIXED, chunk_rows=2)

    assert (job.rows_done, job.rows_valid, job.rows_invalid) == (9, 5, 4)
    assert job.contacts_created == 3
    assert error_rows(job)[1:] == [
        [
            "7",
            "bsuid",
            "'us.123' is not a WhatsApp user id: expected a two-letter country code in capitals, "
            "a dot and up to 128 letters or digits (e.g. US.13491208655302741918).",
        ],
        [
            "8",
            "username",
            "'Not A Name' is not a WhatsApp username: 3 to 35 lower-case letters, digits, dots "
            "or underscores.",
        ],
        ["9", "phone", "Give a phone number, a WhatsApp user id (bsuid) or a username."],
        ["10", "phone", "'12345' is not a valid phone number."],
    ]
    assert identities(acme) == [
        (None, None, "carol.c"),
        (None, BOB_ID, "bob_b"),
        (ALICE, ALICE_ID, None),
    ]
    assert states(acme) == [
        ("", "", "carol.c", "utility", "opted_in"),
        ("", BOB_ID, "bob_b", "marketing", "opted_in"),
        ("", BOB_ID, "bob_b", "utility", "opted_in"),
        (ALICE, ALICE_ID, "", "marketing", "opted_in"),
        (ALICE, ALICE_ID, "", "utility", "opted_out"),
    ]
    with schema_context(acme.schema_name):
        assert Contact.objects.get(bsuid=BOB_ID).name == "Bob"

    again = run_import(acme, MIXED, chunk_rows=4)
    assert (again.events_created, again.events_unchanged, again.contacts_created) == (0, 5, 0)
    assert identities(acme) == [
        (None, None, "carol.c"),
        (None, BOB_ID, "bob_b"),
        (ALICE, ALICE_ID, None),
    ]


def test_a_bsuid_only_opt_out_suppresses_the_phone_a_webhook_linked(acme, acme_number):
    with schema_context(acme.schema_name):
        consent_record_opt_in(phone=ALICE, category="marketing", source="web_form")
        contact_resolve(phone=ALICE, bsuid=ALICE_ID)  # a messages webhook linked them

    run_import(acme, f"user_id,category,action\n{ALICE_ID},marketing,opt_out\n")

    with schema_context(acme.schema_name):
        assert Contact.objects.count() == 1
        decision = presend_check(recipient=ALICE, phone_number_id=ACME_PHONE, category="marketing")
        assert [r.code for r in decision.reasons] == ["opted_out"]


def test_a_row_linking_two_known_contacts_merges_them_keeping_all_history(acme):
    # Alice was imported by phone, and a webhook brought her BSUID alone (nothing linked them)
    run_import(acme, f"phone,category,action\n{ALICE},marketing,opt_in\n")
    run_import(acme, f"bsuid,category,action\n{ALICE_ID},utility,opt_in\n")
    assert len(identities(acme)) == 2

    job = run_import(acme, f"phone,bsuid,category,action\n{ALICE},{ALICE_ID},marketing,opt_out\n")

    assert job.contacts_created == 0
    assert identities(acme) == [(ALICE, ALICE_ID, None)]
    with schema_context(acme.schema_name):
        contact = Contact.objects.get()
        assert sorted(
            ConsentEvent.objects.filter(contact=contact).values_list("category", "kind")
        ) == [("marketing", "opt_in"), ("marketing", "opt_out"), ("utility", "opt_in")]
    assert states(acme) == [
        (ALICE, ALICE_ID, "", "marketing", "opted_out"),
        (ALICE, ALICE_ID, "", "utility", "opted_in"),
    ]


def test_phone_only_rows_and_identity_rows_of_one_person_in_one_chunk_meet(acme):
    job = run_import(
        acme,
        "phone,bsuid,category,action\n"
        f"{ALICE},,marketing,opt_in\n"
        f"{ALICE},{ALICE_ID},utility,opt_in\n",
        chunk_rows=10,
    )

    assert job.contacts_created == 1
    assert identities(acme) == [(ALICE, ALICE_ID, None)]


def _queries_to_import(client, rows: int, start: int) -> int:
    text = "bsuid,username,category,action\n" + "".join(
        f"GB.{start + i},user_{start + i},marketing,opt_in\n" for i in range(rows)
    )
    with CaptureQueriesContext(connection) as queries:
        job = run_import(client, text, chunk_rows=1_000)
    assert job.rows_valid == rows
    return len(queries)


def test_the_number_of_queries_for_a_chunk_does_not_grow_with_its_rows(acme):
    assert _queries_to_import(acme, 3, 1_000) == _queries_to_import(acme, 300, 2_000)


def test_identities_stay_in_their_client(acme, globex):
    with schema_context(globex.schema_name):
        contact_resolve(phone=ALICE, create=True)

    run_import(acme, f"phone,bsuid,category,action\n{ALICE},{ALICE_ID},marketing,opt_in\n")

    assert identities(globex) == [(ALICE, None, None)]
    assert identities(acme) == [(ALICE, ALICE_ID, None)]
    with schema_context(globex.schema_name):
        assert not ConsentEvent.objects.exists()


def test_the_preview_maps_the_identifier_columns(acme):
    with schema_context(acme.schema_name):
        preview = import_preview(upload=upload(MIXED), region="GB")

    mapping = dict(preview.mapping)
    assert (mapping["phone"], mapping["bsuid"], mapping["username"]) == (
        "phone",
        "bsuid",
        "username",
    )
    assert preview.invalid == 4
    assert preview.errors[0][:2] == (7, "bsuid")
