"""Reads for appeals. Client-facing reads never return internal notes or their files."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from appeals.models import AppealAttachment, AppealMessage, AppealTicket, RecoveryItem
from tenants.models import WorkItem, WorkKind
from tenants.selectors import QueueCursor, work_queue_query


def appeals_for_client() -> QuerySet[AppealTicket]:
    return AppealTicket.objects.select_related("account", "number", "template").order_by(
        "-created_at", "-id"
    )


def appeal_get(*, ticket_id: int) -> AppealTicket:
    """The appeal in the current client's schema, or 404."""
    return get_object_or_404(appeals_for_client(), pk=ticket_id)


# What `AppealTicket.subject_label` reads of the appeal's subject.
SUBJECT_LABEL_FIELDS = (
    "account__name", "account__meta_id", "number__display_phone_number", "template__name",
    "template__language",
)  # fmt: skip


def appeal_get_for_page(*, ticket_id: int) -> AppealTicket:
    """`appeal_get` for the appeal's page: the appeal in full, of its account, number and
    template only what its subject's label shows (not their Meta payloads and components)."""
    fields = [f.name for f in AppealTicket._meta.concrete_fields]
    return get_object_or_404(
        appeals_for_client().only(*fields, *SUBJECT_LABEL_FIELDS), pk=ticket_id
    )


def thread_for_client(*, ticket: AppealTicket) -> list[AppealMessage]:
    """The thread as the client sees it: no internal notes, no files of internal notes."""
    return list(
        AppealMessage.objects.filter(ticket=ticket, internal=False)
        .prefetch_related(
            Prefetch("attachments", queryset=AppealAttachment.objects.filter(internal=False))
        )
        .order_by("created_at", "id")
    )


def thread_for_staff(*, ticket: AppealTicket) -> list[AppealMessage]:
    return list(
        AppealMessage.objects.filter(ticket=ticket)
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def files_for_client(*, ticket: AppealTicket) -> QuerySet[AppealAttachment]:
    return AppealAttachment.objects.filter(ticket=ticket, internal=False).order_by("created_at")


def files_for_staff(*, ticket: AppealTicket) -> list[AppealAttachment]:
    """The appeal's own files (not those of a message: the thread shows them)."""
    return list(
        AppealAttachment.objects.filter(ticket=ticket, message__isnull=True).order_by("created_at")
    )


def attachment_for_client(*, ticket: AppealTicket, attachment_id: int) -> AppealAttachment:
    return get_object_or_404(files_for_client(ticket=ticket), pk=attachment_id)


def recovery_items(*, ticket: AppealTicket) -> list[RecoveryItem]:
    """The recovery plan, with each item's template. The templates are read by a second query
    only when an item names one: most appeals have no plan yet, and joining the template's many
    columns was most of this read's time even when no row came back."""
    return list(RecoveryItem.objects.filter(ticket=ticket).prefetch_related("template"))


INBOX_PAGE_SIZE = 50


def staff_inbox_query(
    *,
    status: str = "",
    assignee_id: int | None = None,
    search: str = "",
    after: QueueCursor | None = None,
    limit: int | None = INBOX_PAGE_SIZE,
    managed_by: int | None = None,
):
    """Every client's appeals staff must work, most urgent SLA first: one indexed query on the
    public work index, whatever the number of clients; `search` matches the client, the
    appeal's title and subtitle, or its number; `managed_by` keeps an account manager's
    clients only."""
    return work_queue_query(
        kind=WorkKind.APPEAL,
        status=status,
        assignee_id=assignee_id,
        search=search,
        after=after,
        limit=limit,
        managed_by=managed_by,
    )


def staff_inbox(**filters) -> list[WorkItem]:
    return list(staff_inbox_query(**filters))
