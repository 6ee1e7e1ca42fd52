"""Writes of the template review workflow. Run inside the client's schema.

One service per move of `choices.TRANSITIONS`: each locks the template, checks the move against
the table and the actor's role, saves with `update_fields`, writes an audit row and keeps the
staff queue row (`tenants.WorkItem`, kind template_review) in step, all in one transaction, so a
rolled-back change leaves no queue row behind. Sending to Meta talks HTTP outside any lock and
records the outcome in a transaction of its own.

The package by sub-domain: `common` (who acts, the transition check), `queue` (the staff queue
row), `drafting` (the client's moves), `review` (the reviewers' moves), `sending` (to Meta),
`checks` (the lint rule that decides whether a template may be submitted), `media` (a media
header's example file and its upload).
"""

from templates_review.services.checks import (
    LintResult,
    SubmissionBlocked,
    template_lint,
    template_submission_check,
    template_submit_checked,
)
from templates_review.services.common import Actor, TransitionNotAllowed, transition_check
from templates_review.services.drafting import (
    review_comment_add,
    template_create_draft,
    template_edit,
    template_submit,
)
from templates_review.services.media import (
    template_header_example_clear,
    template_header_example_set,
)
from templates_review.services.queue import _queue_sync
from templates_review.services.review import (
    template_approve,
    template_reject,
    template_request_changes,
    template_send_request,
)
from templates_review.services.sending import (
    REVIEWER_GONE,
    TemplateSendFailed,
    meta_error_text,
    meta_graph,
    template_send_stopped,
    template_send_to_meta,
)

__all__ = [
    "REVIEWER_GONE",
    "Actor",
    "LintResult",
    "SubmissionBlocked",
    "TemplateSendFailed",
    "TransitionNotAllowed",
    "_queue_sync",
    "meta_error_text",
    "meta_graph",
    "review_comment_add",
    "template_approve",
    "template_create_draft",
    "template_edit",
    "template_header_example_clear",
    "template_header_example_set",
    "template_lint",
    "template_reject",
    "template_request_changes",
    "template_send_request",
    "template_send_stopped",
    "template_send_to_meta",
    "template_submission_check",
    "template_submit",
    "template_submit_checked",
    "transition_check",
]
