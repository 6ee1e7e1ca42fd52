"""The evidence bundle's contents and the recovery plan built after Meta's outcome."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from appeals import services
from appeals.models import AppealTicket, RecoveryItem
from compliance.choices import EventKind, EventSource, Severity
from compliance.consent import Evidence, consent_record_opt_in, consent_record_opt_out
from compliance.models import HealthEvent, MessageStatus
from compliance.services import health_event_record
from templates_review.models import MessageTemplate, MetaTemplateHistory
from tests.appeals.conftest import move, open_appeal


def _rows(bundle, name):
    return list(csv.DictReader(io.StringIO(bundle.read(name).decode())))


@pytest.fixture
def records(acme, acme_waba, acme_number):
    """Consent, a template with history and health events in Acme's schema."""
    now = timezone.now()
    with schema_context(acme.schema_name):
        for i, source in enumerate(["web_form", "web_form", "checkout"]):
            consent_record_opt_in(
                phone=f"+1415555010{i}",
                category="marketing",
                source=source,
                source_id=f"in-{i}",
                evidence=Evidence(wording="Yes, Acme Retail may message me", channel="web"),
                actor=None,
                occurred_at=now - timedelta(days=5),
            )
        # Opt-outs recorded 30 s and 90 s after the person asked.
        for i, delay in enumerate([30, 90]):
            consent_record_opt_out(
                phone=f"+1415555010{i}",
                category="marketing",
                source="whatsapp_keyword",
                source_id=f"out-{i}",
                evidence=Evidence(channel="whatsapp"),
                actor=None,
                occurred_at=timezone.now() - timedelta(seconds=delay),
            )
        template = MessageTemplate.objects.create(
            account=acme_waba, name="order_update", language="en", category="utility"
        )
        MetaTemplateHistory.objects.create(
            template=template,
            meta_status="paused",
            reason="Quality dropped",
            dedupe_key="h1",
            occurred_at=now - timedelta(days=3),
        )
        health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title="Account restricted for 7 days",
            key="ev-restriction",
            source=EventSource.WEBHOOK,
            account=acme_waba,
            occurred_at=now - timedelta(days=2),
        )
    return template


def test_the_evidence_bundle_holds_consent_templates_timeline_and_plan(
    acme, acme_waba, acme_owner, records
):
    ticket = open_appeal(acme, acme_waba, acme_owner, improvement_plan="We clean lists weekly.")
    with schema_context(acme.schema_name):
        attachment = services.evidence_bundle_attach(ticket=ticket, actor=acme_owner, client=acme)
        content = attachment.file.read()
    assert (attachment.kind, attachment.content_type, attachment.internal) == (
        "evidence_bundle",
        "application/zip",
        False,
    )
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        assert sorted(bundle.namelist()) == [
            "consent_events.csv",
            "consent_summary.csv",
            "health_snapshots.csv",
            "health_timeline.csv",
            "index.html",
            "template_history.csv",
            "templates.csv",
        ]
        html = bundle.read("index.html").decode()
        summary = _rows(bundle, "consent_summary.csv")
        events = _rows(bundle, "consent_events.csv")
        history = _rows(bundle, "template_history.csv")
        timeline = _rows(bundle, "health_timeline.csv")
    assert [(r["kind"], r["source"], r["count"]) for r in summary] == [
        ("opt_in", "checkout", "1"),
        ("opt_in", "web_form", "2"),
        ("opt_out", "whatsapp_keyword", "2"),
    ]
    assert '<strong id="opt-ins">3</strong>' in html
    assert '<strong id="opt-outs">2</strong>' in html
    assert '<strong id="opt-outs-with-evidence">2</strong> of them kept with' in html
    median = int(html.split('<strong id="opt-out-median">')[1].split("<")[0])
    assert 55 <= median <= 65  # the median of 30 s and 90 s, give or take the test's run time
    assert "We clean lists weekly." in html
    assert "order_update" in html
    # Phone numbers leave masked (and, starting with "+", inert for spreadsheets, as every cell).
    assert {r["contact"] for r in events} == {"'+14…0100", "'+14…0101", "'+14…0102"}
    assert [(r["template"], r["meta_status"], r["reason"]) for r in history] == [
        ("order_update", "paused", "Quality dropped")
    ]
    assert [r["title"] for r in timeline] == ["Account restricted for 7 days"]


def test_the_bundle_of_a_template_appeal_holds_only_that_template(
    acme, acme_waba, acme_owner, records
):
    with schema_context(acme.schema_name):
        MessageTemplate.objects.create(account=acme_waba, name="other_one", language="en")
    ticket = open_appeal(acme, None, acme_owner, subject_kind="template", template=records)
    with schema_context(acme.schema_name):
        content = services.evidence_bundle_attach(
            ticket=ticket, actor=acme_owner, client=acme
        ).file.read()
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        assert [r["name"] for r in _rows(bundle, "templates.csv")] == ["order_update"]


def test_the_bundles_csv_cells_cannot_run_as_spreadsheet_formulas(
    acme, acme_waba, acme_owner, records
):
    with schema_context(acme.schema_name):
        MetaTemplateHistory.objects.create(
            template=records,
            meta_status="rejected",
            reason='=HYPERLINK("http://evil.example","see")',
            dedupe_key="h2",
        )
    ticket = open_appeal(acme, acme_waba, acme_owner)
    with schema_context(acme.schema_name):
        content = services.evidence_bundle_attach(
            ticket=ticket, actor=acme_owner, client=acme
        ).file.read()
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        reasons = {r["reason"] for r in _rows(bundle, "template_history.csv")}
    assert reasons == {"Quality dropped", '\'=HYPERLINK("http://evil.example","see")'}


def test_the_recovery_plan_after_a_reversal(
    acme, acme_waba, acme_number, acme_owner, staff_appeals
):
    blocked_at = timezone.now() - timedelta(days=3)
    ticket = open_appeal(acme, acme_waba, acme_owner, blocked_at=blocked_at)
    with schema_context(acme.schema_name):
        for i, (recipient, when, status, code) in enumerate(
            [
                ("+14155550100", blocked_at + timedelta(hours=1), "failed", 131031),
                ("+14155550100", blocked_at + timedelta(hours=2), "failed", 131031),
                ("+14155550101", blocked_at + timedelta(hours=3), "failed", 131031),
                ("+14155550102", blocked_at + timedelta(hours=3), "delivered", None),
                ("+14155550103", blocked_at - timedelta(hours=1), "failed", 131031),  # before
            ]
        ):
            MessageStatus.objects.create(
                number=acme_number,
                phone_number_meta_id=acme_number.meta_id,
                wamid=f"wamid.{i}",
                recipient=recipient,
                status=status,
                occurred_at=when,
                error_code=code,
            )
    ticket = move(
        ticket,
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-5"}),
            ("record_outcome", staff_appeals, {"outcome": "reversed"}),
            ("start_recovery", acme_owner, {}),
        ],
    )
    with schema_context(acme.schema_name):
        items = list(RecoveryItem.objects.filter(ticket=ticket))
        apology = MessageTemplate.objects.get(name=f"appeal_{ticket.pk}_apology")
        assert [(i.kind, i.contact_phone) for i in items[:3]] == [
            ("apology_template", ""),
            ("follow_up_contact", "+14155550101"),
            ("follow_up_contact", "+14155550100"),
        ]
        assert items[2].detail == "2 message(s) failed during the block, last error 131031."
        assert [i.kind for i in items[3:]] == ["process_review"] * 4
        assert items[0].template_id == apology.pk
        assert (apology.account_id, apology.category, apology.meta_id) == (
            acme_waba.pk,
            "utility",
            None,
        )
        assert "The issue is resolved" in apology.components[0]["text"]
        # A draft of the template review like any other: not with Meta, one revision.
        assert (apology.review_state, apology.revisions.count()) == ("draft", 1)
        # Progress is tracked item by item.
        done = services.recovery_item_set_done(
            item=items[1], actor=acme_owner, client=acme, done=True
        )
        assert (done.done_at is not None, done.done_by_id) == (True, acme_owner.pk)
        assert AppealTicket.objects.get(pk=ticket.pk).status == "recovery"


IN_A_WEEK = (timezone.now() + timedelta(days=7)).isoformat()


# The restriction event keeps Meta's token as the webhook sent it (meta-platform.md's list).


@pytest.mark.parametrize(
    ("kind", "data", "subject", "block"),
    [
        (
            EventKind.RESTRICTION,
            {
                "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                "expires_at": IN_A_WEEK,
            },
            "waba",
            "template_block",
        ),
        (
            EventKind.RESTRICTION,
            {
                "restriction_type": "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
                "expires_at": IN_A_WEEK,
            },
            "waba",
            "messaging_block",
        ),
        (
            EventKind.RESTRICTION,
            {"restriction_type": "RESTRICTED_CUSTOMER_INITIATED_MESSAGING"},
            "waba",
            "locked",
        ),
        (
            EventKind.RESTRICTION,
            {"restriction_type": "restricted_utility_templates", "expires_at": IN_A_WEEK},
            "waba",
            "template_block",
        ),
        (EventKind.VIOLATION, {"violation_type": "SPAM"}, "waba", "warning"),
        (EventKind.BANNED, {}, "waba", "disabled"),
        (EventKind.FLAGGED, {}, "phone_number", "number_restricted"),
    ],
)
def test_prefill_from_an_enforcement_event(
    acme, acme_waba, acme_number, kind, data, subject, block
):
    with schema_context(acme.schema_name):
        event = HealthEvent.objects.create(
            account=acme_waba,
            number=acme_number if kind == EventKind.FLAGGED else None,
            kind=kind,
            severity=Severity.CRITICAL,
            title="x",
            source=EventSource.WEBHOOK,
            data=data,
            dedupe_key=f"prefill-{kind}-{len(data)}-{data.get('restriction_type')}",
        )
        prefill = services.prefill_from_event(event=event)
    assert (prefill["subject_kind"], prefill["block_type"], prefill["account_id"]) == (
        subject,
        block,
        acme_waba.pk,
    )
    assert prefill["violation_type"] == data.get("violation_type", "")


def test_after_a_reversal_the_block_window_ends_at_metas_decision(
    acme, acme_waba, acme_number, acme_owner, staff_appeals
):
    blocked_at = timezone.now() - timedelta(days=2)
    ticket = open_appeal(
        acme,
        acme_waba,
        acme_owner,
        blocked_at=blocked_at,
        block_ends_at=blocked_at + timedelta(days=30),
    )
    ticket = move(
        ticket,
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-8"}),
            ("record_outcome", staff_appeals, {"outcome": "reversed"}),
        ],
    )
    with schema_context(acme.schema_name):
        for i, (recipient, when) in enumerate(
            [
                ("+14155550110", blocked_at + timedelta(hours=1)),  # during the block
                ("+14155550111", ticket.outcome_at + timedelta(minutes=5)),  # after the reversal
            ]
        ):
            MessageStatus.objects.create(
                number=acme_number,
                phone_number_meta_id=acme_number.meta_id,
                wamid=f"wamid.rev{i}",
                recipient=recipient,
                status="failed",
                occurred_at=when,
                error_code=131031,
            )
    ticket = move(ticket, acme, [("start_recovery", acme_owner, {})])
    with schema_context(acme.schema_name):
        phones = list(
            RecoveryItem.objects.filter(ticket=ticket, kind="follow_up_contact").values_list(
                "contact_phone", flat=True
            )
        )
    assert phones == ["+14155550110"]


def test_the_bundle_masks_a_contact_known_only_by_its_whatsapp_user_id():
    from appeals.evidence import _masked

    assert _masked(None) == "(no phone: WhatsApp user id only)"
    assert _masked("+447911123456") == "+44…3456"
