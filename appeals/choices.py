"""Appeal vocabularies and the one table of allowed transitions with who may take each step."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from tenants.choices import ClientRole, StaffRole
from tenants.permissions import API_KEY_ROLE  # re-exported for the transition table's users


class SubjectKind(models.TextChoices):
    WABA = "waba", "WhatsApp Business Account"
    PHONE_NUMBER = "phone_number", "Phone number"
    TEMPLATE = "template", "Message template"


class BlockType(models.TextChoices):
    """Meta's enforcement ladder (meta-platform §5.1) plus number and template blocks."""

    WARNING = "warning", "Warning"
    TEMPLATE_BLOCK = "template_block", "Template block"
    MESSAGING_BLOCK = "messaging_block", "Messaging block"
    NUMBER_RESTRICTED = "number_restricted", "Restricted or flagged number"
    LOCKED = "locked", "Account locked"
    DISABLED = "disabled", "Disabled / banned"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_STAFF_REVIEW = "in_staff_review", "In staff review"
    WAITING_ON_CLIENT = "waiting_on_client", "Waiting on client"
    READY_FOR_META = "ready_for_meta", "Ready for Meta"
    SUBMITTED_TO_META = "submitted_to_meta", "Submitted to Meta"
    OUTCOME = "outcome", "Outcome recorded"
    RECOVERY = "recovery", "Recovery"
    CLOSED = "closed", "Closed"


class Outcome(models.TextChoices):
    """Meta's decision (Business Support Home): reversed, unchanged, or acknowledged instead."""

    REVERSED = "reversed", "Reversed"
    UNCHANGED = "unchanged", "Unchanged"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"


class Side(models.TextChoices):
    CLIENT = "client", "Client"
    STAFF = "staff", "BSP staff"
    SYSTEM = "system", "System"


class AttachmentKind(models.TextChoices):
    UPLOAD = "upload", "Upload"
    EVIDENCE_BUNDLE = "evidence_bundle", "Evidence bundle"


class RecoveryKind(models.TextChoices):
    APOLOGY_TEMPLATE = "apology_template", "Apology / explanation message"
    FOLLOW_UP_CONTACT = "follow_up_contact", "Follow up a contact"
    PROCESS_REVIEW = "process_review", "Process review"


# An API key acts for the client like an operator.

CLIENT_OPERATORS = frozenset(
    {ClientRole.OWNER.value, ClientRole.ADMIN.value, ClientRole.AGENT.value, API_KEY_ROLE}
)
CLIENT_MANAGERS = frozenset({ClientRole.OWNER.value, ClientRole.ADMIN.value})
APPEAL_STAFF = frozenset(
    {StaffRole.APPEALS_AGENT.value, StaffRole.ACCOUNT_MANAGER.value, StaffRole.SUPERUSER.value}
)
CLIENT_ROLES = frozenset(ClientRole.values) | {API_KEY_ROLE}


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    label: str


# The one table: which step moves an appeal from where to where, and who may take it.
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        frozenset({Status.DRAFT}), Status.SUBMITTED, CLIENT_OPERATORS, "Submit to the BSP"
    ),
    "start_review": Transition(
        frozenset({Status.SUBMITTED}), Status.IN_STAFF_REVIEW, APPEAL_STAFF, "Start review"
    ),
    "request_info": Transition(
        frozenset({Status.IN_STAFF_REVIEW}),
        Status.WAITING_ON_CLIENT,
        APPEAL_STAFF,
        "Ask the client for more information",
    ),
    "answer": Transition(
        frozenset({Status.WAITING_ON_CLIENT}),
        Status.IN_STAFF_REVIEW,
        CLIENT_OPERATORS,
        "Send the answer",
    ),
    "mark_ready": Transition(
        frozenset({Status.IN_STAFF_REVIEW}), Status.READY_FOR_META, APPEAL_STAFF, "Ready for Meta"
    ),
    "submit_to_meta": Transition(
        frozenset({Status.READY_FOR_META}),
        Status.SUBMITTED_TO_META,
        APPEAL_STAFF,
        "Mark submitted to Meta",
    ),
    "record_outcome": Transition(
        frozenset({Status.SUBMITTED_TO_META}), Status.OUTCOME, APPEAL_STAFF, "Record the outcome"
    ),
    "start_recovery": Transition(
        frozenset({Status.OUTCOME}),
        Status.RECOVERY,
        APPEAL_STAFF | CLIENT_MANAGERS,
        "Start the recovery plan",
    ),
    "close": Transition(
        frozenset({Status.RECOVERY}), Status.CLOSED, APPEAL_STAFF | CLIENT_MANAGERS, "Close"
    ),
    "withdraw": Transition(
        frozenset(
            {Status.DRAFT, Status.SUBMITTED, Status.IN_STAFF_REVIEW, Status.WAITING_ON_CLIENT}
        ),
        Status.CLOSED,
        CLIENT_MANAGERS,
        "Withdraw the appeal",
    ),
}


def transition_allowed(action: str, *, status: str, role: str | None) -> bool:
    step = TRANSITIONS.get(action)
    return step is not None and role is not None and status in step.sources and role in step.roles


def actions_for(*, status: str, role: str | None) -> list[str]:
    return [a for a in TRANSITIONS if transition_allowed(a, status=status, role=role)]


# Staff's clocks run in these states; waiting on the client or on Meta pauses them, and the
# resolution clock stops once Meta's outcome is recorded.
CLOCK_RUNNING = frozenset({Status.SUBMITTED, Status.IN_STAFF_REVIEW, Status.READY_FOR_META})
CLOCK_PAUSED = frozenset({Status.WAITING_ON_CLIENT, Status.SUBMITTED_TO_META})
# Not yet filed at Meta: Meta's 90-day deadline still matters.
BEFORE_META = frozenset(
    {
        Status.DRAFT,
        Status.SUBMITTED,
        Status.IN_STAFF_REVIEW,
        Status.WAITING_ON_CLIENT,
        Status.READY_FOR_META,
    }
)
# The client may change the guided answers while it holds the appeal.
EDITABLE = frozenset({Status.DRAFT, Status.WAITING_ON_CLIENT})

# Who may open an appeal (not a transition: a new draft).
CREATE_ROLES = CLIENT_OPERATORS | APPEAL_STAFF
