"""Every transition of an appeal, allowed and denied, for every client and staff role."""

import pytest
from django.core.exceptions import PermissionDenied
from django_tenants.utils import schema_context

from appeals import choices as c
from appeals import services
from appeals.models import AppealTicket
from portal.audit.models import AuditLog
from tenants.api.authentication import ApiKeyPrincipal
from tenants.models import WorkItem, WorkKind
from tests.factories import ApiKeyFactory
from tests.factories.appeals import AppealTicketFactory
from tests.people import make_account_manager

CLIENT_OPERATORS = {"owner", "admin", "agent", "api_key"}
CLIENT_MANAGERS = {"owner", "admin"}
APPEAL_STAFF = {"appeals_agent", "account_manager", "superuser"}

# Written out here (not read from the table) so the table is checked against the issue.
EXPECTED = {
    "submit": ("draft", "submitted", CLIENT_OPERATORS),
    "start_review": ("submitted", "in_staff_review", APPEAL_STAFF),
    "request_info": ("in_staff_review", "waiting_on_client", APPEAL_STAFF),
    "answer": ("waiting_on_client", "in_staff_review", CLIENT_OPERATORS),
    "mark_ready": ("in_staff_review", "ready_for_meta", APPEAL_STAFF),
    "submit_to_meta": ("ready_for_meta", "submitted_to_meta", APPEAL_STAFF),
    "record_outcome": ("submitted_to_meta", "outcome", APPEAL_STAFF),
    "start_recovery": ("outcome", "recovery", APPEAL_STAFF | CLIENT_MANAGERS),
    "close": ("recovery", "closed", APPEAL_STAFF | CLIENT_MANAGERS),
    "withdraw": ("waiting_on_client", "closed", CLIENT_MANAGERS),
}

ARGS = {
    "request_info": {"question": "Which page collects the opt-in?"},
    "answer": {"answer": "The checkout page, step 3."},
    "submit_to_meta": {"meta_case_reference": "BSH-123456"},
    "record_outcome": {"outcome": "reversed"},
}

ACTORS = {
    "owner": "acme_owner",
    "admin": "acme_admin",
    "agent": "acme_agent",
    "viewer": "acme_viewer",
    "other_client": "globex_owner",
    "appeals_agent": "staff_appeals",
    "account_manager": "staff_manager",
    "template_reviewer": "staff_reviewer",
    "superuser": "staff_super",
    "outsider": "outsider",
    "api_key": None,
}

CASES = [(action, role) for action in EXPECTED for role in ACTORS]


def _actor(request, role, acme):
    if role == "api_key":
        return ApiKeyPrincipal(ApiKeyFactory(client=acme))
    if role == "account_manager":  # account managers reach their own clients only
        make_account_manager(request.getfixturevalue("staff_manager"), acme)
    return request.getfixturevalue(ACTORS[role])


def test_the_table_has_exactly_the_expected_steps():
    assert {a: (min(t.sources), t.target) for a, t in c.TRANSITIONS.items() if a != "withdraw"} == {
        a: (src, tgt) for a, (src, tgt, _) in EXPECTED.items() if a != "withdraw"
    }
    assert c.TRANSITIONS["withdraw"].sources == {
        "draft",
        "submitted",
        "in_staff_review",
        "waiting_on_client",
    }


@pytest.mark.parametrize(("action", "role"), CASES)
def test_transition_allowed_or_denied_by_role(request, acme, acme_waba, action, role):
    source, target, allowed_roles = EXPECTED[action]
    actor = _actor(request, role, acme)
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba, status=source)
        audits = AuditLog.objects.filter(action=f"appeal.{action}").count()
        service = services.TRANSITION_SERVICES[action]
        if role in allowed_roles:
            service(ticket=ticket, actor=actor, client=acme, **ARGS.get(action, {}))
            ticket.refresh_from_db()
            assert ticket.status == target
            assert AuditLog.objects.filter(action=f"appeal.{action}").count() == audits + 1
            item = WorkItem.objects.filter(kind=WorkKind.APPEAL, object_id=str(ticket.pk)).first()
            assert (item.status if item else None) == (None if target == "closed" else target)
        else:
            with pytest.raises(PermissionDenied):
                service(ticket=ticket, actor=actor, client=acme, **ARGS.get(action, {}))
            ticket.refresh_from_db()
            assert ticket.status == source
            assert AuditLog.objects.filter(action=f"appeal.{action}").count() == audits
            assert not WorkItem.objects.filter(
                kind=WorkKind.APPEAL, object_id=str(ticket.pk)
            ).exists()


@pytest.mark.parametrize("action", list(EXPECTED))
def test_a_step_from_the_wrong_state_is_refused(acme, acme_waba, staff_super, acme_owner, action):
    _, _, allowed = EXPECTED[action]
    actor = staff_super if "superuser" in allowed else acme_owner
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba, status=c.Status.CLOSED)
        with pytest.raises(services.AppealStateError):
            services.TRANSITION_SERVICES[action](
                ticket=ticket, actor=actor, client=acme, **ARGS.get(action, {})
            )
        assert AppealTicket.objects.get(pk=ticket.pk).status == c.Status.CLOSED


def test_submitting_needs_every_guided_answer(acme, acme_waba, acme_owner):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba, consent_process="", improvement_plan=" ")
        with pytest.raises(services.AppealInvalid) as exc:
            services.appeal_submit(ticket=ticket, actor=acme_owner, client=acme)
        assert set(exc.value.errors) == {"consent_process", "improvement_plan"}
        assert AppealTicket.objects.get(pk=ticket.pk).status == c.Status.DRAFT


def test_submit_to_meta_needs_the_case_reference(acme, acme_waba, staff_appeals):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba, status=c.Status.READY_FOR_META)
        with pytest.raises(services.AppealInvalid):
            services.appeal_submit_to_meta(
                ticket=ticket, actor=staff_appeals, meta_case_reference=" ", client=acme
            )
        done = services.appeal_submit_to_meta(
            ticket=ticket, actor=staff_appeals, meta_case_reference="BSH-9", client=acme
        )
        assert (done.status, done.meta_case_reference) == ("submitted_to_meta", "BSH-9")


def test_the_full_path_with_a_question_and_an_answer(acme, acme_waba, acme_owner, staff_appeals):
    from tests.appeals.conftest import move, open_appeal

    ticket = move(
        open_appeal(acme, acme_waba, acme_owner),
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("request_info", staff_appeals, {"question": "Send the opt-in page."}),
            ("answer", acme_owner, {"answer": "https://acme.example/optin"}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-1"}),
            ("record_outcome", staff_appeals, {"outcome": "reversed"}),
            ("start_recovery", acme_owner, {}),
            ("close", acme_owner, {}),
        ],
    )
    with schema_context(acme.schema_name):
        ticket.refresh_from_db()
        assert (ticket.status, ticket.outcome, ticket.assignee_id) == (
            "closed",
            "reversed",
            staff_appeals.pk,
        )
        assert [(m.side, m.body) for m in ticket.messages.all()] == [
            ("staff", "Send the opt-in page."),
            ("client", "https://acme.example/optin"),
            ("staff", "Meta's outcome: Reversed."),
        ]
    actions = list(
        AuditLog.objects.filter(client=acme, object_id=str(ticket.pk), action__startswith="appeal.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "appeal.created",
        "appeal.submit",
        "appeal.start_review",
        "appeal.request_info",
        "appeal.answer",
        "appeal.mark_ready",
        "appeal.submit_to_meta",
        "appeal.record_outcome",
        "appeal.start_recovery",
        "appeal.close",
    ]


@pytest.mark.parametrize("source", ["draft", "submitted", "in_staff_review", "waiting_on_client"])
def test_withdraw_from_every_open_state(acme, acme_waba, acme_admin, acme_agent, source):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba, status=source)
        services.work_item_sync_appeal(ticket=ticket, client=acme)
        with pytest.raises(PermissionDenied):
            services.appeal_withdraw(ticket=ticket, actor=acme_agent, client=acme)
        assert AppealTicket.objects.get(pk=ticket.pk).status == source
        done = services.appeal_withdraw(ticket=ticket, actor=acme_admin, client=acme)
    assert (done.status, done.closed_at is not None) == ("closed", True)
    assert not WorkItem.objects.filter(kind=WorkKind.APPEAL, object_id=str(ticket.pk)).exists()
