"""Writes for appeals. Run inside the client's schema (staff pages enter it with schema_context).

Split by sub-domain; every public name is here too, so callers use `appeals.services.<name>`:
- `base`: the errors (`AppealInvalid`, `AppealStateError`);
- `tickets`: opening an appeal, its guided answers, triage, the recovery checklist;
- `transitions`: one service per step of `appeals.choices.TRANSITIONS`, all through
  `_transition` (lock, table and role check, SLA clock, `update_fields`, audit row, staff index in
  the same transaction, e-mail to the other side after commit);
- `thread`: messages and staff-only internal notes;
- `attachments`: uploads (size and type checked, stored per client) and the evidence bundle;
- `work_index`: SLA clocks, the staff work index row, breach warnings;
- `notify`: e-mail to the other side.
"""

from django.utils import timezone  # noqa: F401 - tests pin the clock through this name

from appeals.services.attachments import (
    ALLOWED_UPLOADS,
    attachment_add,
    attachment_check,
    evidence_bundle_attach,
)
from appeals.services.base import AppealInvalid, AppealStateError, side_of
from appeals.services.notify import recipients_for
from appeals.services.thread import appeal_message_post
from appeals.services.tickets import (
    ANSWER_FIELDS,
    appeal_assign,
    appeal_create,
    appeal_update_answers,
    prefill_from_event,
    recovery_item_set_done,
)
from appeals.services.transitions import (
    TRANSITION_INPUTS,
    TRANSITION_SERVICES,
    appeal_answer,
    appeal_close,
    appeal_mark_ready,
    appeal_record_outcome,
    appeal_request_info,
    appeal_start_recovery,
    appeal_start_review,
    appeal_submit,
    appeal_submit_to_meta,
    appeal_withdraw,
    transition_arguments,
)
from appeals.services.work_index import (
    SORT_AFTER_OUTCOME,
    SORT_PAUSED,
    clocks,
    sla_warnings_send,
    work_item_sync_appeal,
)

__all__ = [
    "ALLOWED_UPLOADS",
    "ANSWER_FIELDS",
    "SORT_AFTER_OUTCOME",
    "SORT_PAUSED",
    "TRANSITION_INPUTS",
    "TRANSITION_SERVICES",
    "AppealInvalid",
    "AppealStateError",
    "appeal_answer",
    "appeal_assign",
    "appeal_close",
    "appeal_create",
    "appeal_mark_ready",
    "appeal_message_post",
    "appeal_record_outcome",
    "appeal_request_info",
    "appeal_start_recovery",
    "appeal_start_review",
    "appeal_submit",
    "appeal_submit_to_meta",
    "appeal_update_answers",
    "appeal_withdraw",
    "attachment_add",
    "attachment_check",
    "clocks",
    "evidence_bundle_attach",
    "prefill_from_event",
    "recipients_for",
    "recovery_item_set_done",
    "side_of",
    "sla_warnings_send",
    "transition_arguments",
    "work_item_sync_appeal",
]
