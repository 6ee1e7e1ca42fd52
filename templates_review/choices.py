"""The review workflow of a template: its states, the moves between them and who may make each.

`TRANSITIONS` is the one table of allowed moves. Client roles (owner, admin, agent; an API key
with the write scope counts as `api_key`) draft, edit and submit; BSP staff with the template
reviewer or superuser role approve, request changes or reject. After approval the template is
sent to Meta, and from then on Meta's status (`MessageTemplate.meta_status`) is the one shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from portal.meta import types as meta
from tenants.choices import ClientRole, StaffRole
from tenants.permissions import API_KEY_ROLE  # re-exported for the transition table's users


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED = "rejected", "Rejected by the BSP"
    APPROVED = "approved", "Approved by the BSP"
    SENT_TO_META = "sent_to_meta", "Sent to Meta"


class ReviewAction(models.TextChoices):
    CREATE = "create", "Create a draft"
    EDIT = "edit", "Edit"
    SUBMIT = "submit", "Submit for review"
    REQUEST_CHANGES = "request_changes", "Request changes"
    REJECT = "reject", "Reject"
    APPROVE = "approve", "Approve"
    SEND = "send", "Send to Meta"


# Who acts: a client role, `api_key`, or a staff role.
CLIENT_AUTHORS = frozenset(
    {ClientRole.OWNER.value, ClientRole.ADMIN.value, ClientRole.AGENT.value, API_KEY_ROLE}
)
REVIEWERS = frozenset({StaffRole.TEMPLATE_REVIEWER.value, StaffRole.SUPERUSER.value})
STAFF_ROLES = frozenset(r.value for r in StaffRole)
# The portal itself, drafting on the client's behalf (an appeal's recovery plan): it may only
# create a draft, which then goes through the review like any other.
SYSTEM_ROLE = "system"
# Comments: the client's authors and BSP staff (those whose role reaches the client's templates:
# services.common.acting_role).
COMMENTERS = CLIENT_AUTHORS | STAFF_ROLES


@dataclass(frozen=True)
class Transition:
    action: ReviewAction
    sources: frozenset[str | None]  # None: the template does not exist yet
    target: ReviewState | None  # None: the state does not change (an edit in place)
    roles: frozenset[str]


_S = ReviewState
TRANSITIONS: dict[ReviewAction, Transition] = {
    t.action: t
    for t in (
        Transition(
            ReviewAction.CREATE, frozenset({None}), _S.DRAFT, CLIENT_AUTHORS | {SYSTEM_ROLE}
        ),
        # Editing a draft or a template sent back keeps its state; editing a rejected template
        # or one Meta already has starts a new draft (sent to Meta as an edit on approval).
        Transition(
            ReviewAction.EDIT,
            frozenset({_S.DRAFT, _S.CHANGES_REQUESTED, _S.REJECTED, _S.SENT_TO_META}),
            None,
            CLIENT_AUTHORS,
        ),
        Transition(
            ReviewAction.SUBMIT,
            frozenset({_S.DRAFT, _S.CHANGES_REQUESTED}),
            _S.SUBMITTED,
            CLIENT_AUTHORS,
        ),
        Transition(
            ReviewAction.REQUEST_CHANGES,
            frozenset({_S.SUBMITTED}),
            _S.CHANGES_REQUESTED,
            REVIEWERS,
        ),
        Transition(ReviewAction.REJECT, frozenset({_S.SUBMITTED}), _S.REJECTED, REVIEWERS),
        Transition(ReviewAction.APPROVE, frozenset({_S.SUBMITTED}), _S.APPROVED, REVIEWERS),
        Transition(ReviewAction.SEND, frozenset({_S.APPROVED}), _S.SENT_TO_META, REVIEWERS),
    )
}

# Where an edit leaves the template, by its state before the edit.
EDIT_TARGET: dict[str, ReviewState] = {
    _S.DRAFT: _S.DRAFT,
    _S.CHANGES_REQUESTED: _S.CHANGES_REQUESTED,
    _S.REJECTED: _S.DRAFT,
    _S.SENT_TO_META: _S.DRAFT,
}
# States in the staff queue.
QUEUED_STATES = frozenset({_S.SUBMITTED, _S.APPROVED})


class ReviewReason(models.TextChoices):
    """Why a reviewer sent a template back or rejected it; each maps to Meta's rejection reason
    for the same fault, so the client learns what Meta would have said."""

    INVALID_FORMAT = "invalid_format", "Format: parameters, braces or examples"
    PROMOTIONAL = "promotional", "Promotional content in a utility template"
    INCORRECT_CATEGORY = "incorrect_category", "Wrong category"
    TAG_CONTENT_MISMATCH = "tag_content_mismatch", "Content does not match the category"
    ABUSIVE_CONTENT = "abusive_content", "Abusive or threatening content"
    SCAM = "scam", "Scam, or asks for card or identity numbers"
    OTHER = "other", "Other (see the comment)"

    @property
    def meta_reason(self) -> meta.TemplateRejectionReason:
        return _META_REASON[self]


_META_REASON = {
    ReviewReason.INVALID_FORMAT: meta.TemplateRejectionReason.INVALID_FORMAT,
    ReviewReason.PROMOTIONAL: meta.TemplateRejectionReason.PROMOTIONAL,
    ReviewReason.INCORRECT_CATEGORY: meta.TemplateRejectionReason.INCORRECT_CATEGORY,
    ReviewReason.TAG_CONTENT_MISMATCH: meta.TemplateRejectionReason.TAG_CONTENT_MISMATCH,
    ReviewReason.ABUSIVE_CONTENT: meta.TemplateRejectionReason.ABUSIVE_CONTENT,
    ReviewReason.SCAM: meta.TemplateRejectionReason.SCAM,
    ReviewReason.OTHER: meta.TemplateRejectionReason.NONE,
}

# Plain words for Meta's rejection reasons, shown to the client.
META_REASON_TEXT = {
    meta.TemplateRejectionReason.ABUSIVE_CONTENT: "Meta found abusive or threatening content.",
    meta.TemplateRejectionReason.INCORRECT_CATEGORY: "Meta judged the category to be wrong.",
    meta.TemplateRejectionReason.INVALID_FORMAT: "Meta found a format problem (parameters, "
    "braces or examples).",
    meta.TemplateRejectionReason.PROMOTIONAL: "Meta found promotional content in a template that "
    "is not MARKETING.",
    meta.TemplateRejectionReason.SCAM: "Meta judged the template to be a possible scam.",
    meta.TemplateRejectionReason.TAG_CONTENT_MISMATCH: "The content does not match the category.",
    meta.TemplateRejectionReason.CATEGORY_NOT_AVAILABLE: "The category is not available.",
}


class StatusFilter(models.TextChoices):
    """What the client's template list filters by: our workflow state until the template is at
    Meta, then Meta's status."""

    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "In BSP review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED_BY_BSP = "rejected_by_bsp", "Rejected by the BSP"
    APPROVED_BY_BSP = "approved_by_bsp", "Approved, not yet at Meta"
    META_PENDING = "meta_pending", "In Meta review"
    META_APPROVED = "meta_approved", "Approved by Meta"
    META_REJECTED = "meta_rejected", "Rejected by Meta"
    META_PAUSED = "meta_paused", "Paused"
    META_DISABLED = "meta_disabled", "Disabled"


class PauseKind(models.TextChoices):
    """Why Meta paused a template (`other_info.title`, meta-platform §10)."""

    QUALITY = "quality", "Quality pause"
    PACING = "pacing", "Pacing pause"
    PORTFOLIO_PACING = "portfolio_pacing", "Portfolio pacing"


PAUSE_KIND_TEXT = {
    PauseKind.QUALITY: "Meta paused this template because its quality dropped to low; the pause "
    "ends by itself.",
    PauseKind.PACING: "Meta paused this template under template pacing (feedback on the first "
    "messages was poor). It stays paused until someone unpauses it; improve the content first.",
    PauseKind.PORTFOLIO_PACING: "Meta froze this template while it reviews feedback on your "
    "business's paced sends. It stays paused until someone unpauses it.",
}
