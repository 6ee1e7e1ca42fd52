"""Staff pages on the public host: the inbox across every client (one query on the staff work
index) and an appeal's detail, where staff triage, assign, reply, write internal notes, mark it
submitted to Meta and record the outcome. Tenant-side work runs inside the client's schema."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from appeals import choices as c
from appeals import selectors, services
from appeals.forms import AssignForm, OutcomeForm, StaffMessageForm, form_as_p
from appeals.models import AppealAttachment
from appeals.staff_rows import inbox_rows_html
from appeals.views import post_message, refusal
from portal.exports import csv_download, list_querystring
from portal.template_urls import url_filler
from tenants.actors import Actor
from tenants.permissions import Area
from tenants.selectors import queue_cursor_after, queue_cursor_parse
from tenants.services import staff_entry_record
from tenants.views import staff_client_get, staff_required

STAFF_ACTIONS = [a for a, step in c.TRANSITIONS.items() if step.roles & c.APPEAL_STAFF]


INBOX_CSV_HEADER = [
    "client", "appeal", "title", "subject", "status", "priority", "due_at", "clock", "assignee",
]  # fmt: skip


@staff_required(Area.APPEALS)
def staff_inbox(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    mine = request.GET.get("mine") == "1"
    search = request.GET.get("q", "").strip()[:100]
    filters = {
        "status": status if status in c.Status.values else "",
        "assignee_id": request.user.pk if mine else None,
        "search": search,
        "managed_by": request.actor.list_manager_id,
    }
    if request.GET.get("export") == "csv":
        rows = (
            [
                item.client.slug,
                item.object_id,
                item.title,
                item.subtitle,
                item.status,
                item.band,
                item.data.get("due_at"),
                item.data.get("clock"),
                item.data.get("assignee"),
            ]
            for item in selectors.staff_inbox_query(**filters, limit=None).iterator(chunk_size=2000)
        )
        return csv_download(filename="appeals-inbox.csv", header=INBOX_CSV_HEADER, rows=rows)
    items = selectors.staff_inbox(**filters, after=queue_cursor_parse(request.GET.get("after")))
    detail = url_filler("staff-appeal-detail", 2)
    for item in items:
        item.detail_url = detail(item.client.slug, item.object_id)
    more = queue_cursor_after(items, limit=selectors.INBOX_PAGE_SIZE)
    return render(
        request,
        "appeals/staff_inbox.html",
        {
            "items": items,
            "rows": inbox_rows_html(items),
            "status": status,
            "mine": mine,
            "q": search,
            "statuses": c.Status.choices,
            "more": more,
            "next_query": list_querystring(request.GET, after=more) if more else "",
            "export_query": list_querystring(request.GET, after=None, export="csv"),
        },
    )


def _client(request: HttpRequest, slug: str):
    """The client whose appeal staff open. Reading a client's records is entering it: audited
    once per session, as on the client's own host (tenants.middleware)."""
    client = staff_client_get(request, slug, Area.APPEALS)
    key = f"staff_entry:{client.pk}"
    if not request.session.get(key):
        staff_entry_record(user=request.user, client=client, request=request)
        request.session[key] = True
    return client


def _detail_context(request: HttpRequest, client, ticket, **kept) -> dict:
    """The staff detail page; after a refusal, `kept` carries the forms as typed and `error`."""
    role = Actor.staff(request.user).role_for(Area.APPEALS, client=client)
    actions = [a for a in c.actions_for(status=ticket.status, role=role) if a in STAFF_ACTIONS]
    context = {
        "client": client,
        "ticket": ticket,
        "thread": selectors.thread_for_staff(ticket=ticket),
        "files": selectors.files_for_staff(ticket=ticket),
        "recovery": selectors.recovery_items(ticket=ticket),
        "clocks": services.clocks(ticket=ticket),
        "warn_at": settings.APPEALS_WARN_AT_PERCENT,
        "actions": {a: c.TRANSITIONS[a].label for a in actions},
        "can_act": role in c.APPEAL_STAFF,
        "assign_form": AssignForm(
            initial={"assignee": ticket.assignee_id, "priority": ticket.priority}
        ),
        "message_form": StaffMessageForm(),
        "outcome_form": OutcomeForm(),
        "question": "",
        "meta_case_reference": "",
        "error": "",
        "staff_view": True,
        **kept,
    }
    # Written when the page shows them (the template calls these).
    context["message_form_html"] = partial(form_as_p, context["message_form"])
    context["outcome_form_html"] = partial(form_as_p, context["outcome_form"])
    return context


@staff_required(Area.APPEALS)
def staff_appeal_detail(request: HttpRequest, slug: str, ticket_id: int) -> HttpResponse:
    client = _client(request, slug)
    with schema_context(client.schema_name):
        ticket = selectors.appeal_get(ticket_id=ticket_id)
        _opened_once(request, client, ticket)
        return render(
            request, "appeals/staff_detail.html", _detail_context(request, client, ticket)
        )


def _opened_once(request: HttpRequest, client, ticket) -> None:
    """The client's activity trail says "BSP staff opened your appeal", once per session."""
    from tenants.services import staff_appeal_opened_record

    seen = request.session.get("appeals_opened", [])
    key = f"{client.pk}:{ticket.pk}"
    if key in seen:
        return
    staff_appeal_opened_record(user=request.user, client=client, appeal=ticket, request=request)
    request.session["appeals_opened"] = [*seen[-199:], key]


def _refused(request: HttpRequest, client, ticket_id: int, **kept) -> HttpResponse:
    """The page again with what was typed and the reason (call inside the client's schema)."""
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    context = _detail_context(request, client, ticket, **kept)
    return render(request, "appeals/staff_detail.html", context, status=400)


@require_POST
@staff_required(Area.APPEALS)
def staff_appeal_transition(
    request: HttpRequest, slug: str, ticket_id: int, action: str
) -> HttpResponse:
    if action not in STAFF_ACTIONS:
        raise Http404
    client = _client(request, slug)
    kwargs = services.transition_arguments(action, request.POST)
    with schema_context(client.schema_name):
        ticket = selectors.appeal_get(ticket_id=ticket_id)
        try:
            ticket = services.TRANSITION_SERVICES[action](
                ticket=ticket, actor=request.user, client=client, **kwargs
            )
        except (services.AppealInvalid, services.AppealStateError) as exc:
            kept = {
                "question": kwargs.get("question", ""),
                "meta_case_reference": kwargs.get("meta_case_reference", ""),
            }
            if action == "record_outcome":
                kept["outcome_form"] = OutcomeForm(initial=kwargs)
            return _refused(request, client, ticket_id, error=refusal(exc), **kept)
        messages.success(request, f"{ticket.reference}: {ticket.get_status_display()}.")
    return redirect("staff-appeal-detail", slug, ticket_id)


@require_POST
@staff_required(Area.APPEALS)
def staff_appeal_message(request: HttpRequest, slug: str, ticket_id: int) -> HttpResponse:
    client = _client(request, slug)
    form = StaffMessageForm(request.POST, request.FILES)
    with schema_context(client.schema_name):
        ticket = selectors.appeal_get(ticket_id=ticket_id)
        error = post_message(request, form, ticket=ticket, client=client)
        if error:
            typed = {"body": request.POST.get("body", ""), "internal": "internal" in request.POST}
            return _refused(
                request,
                client,
                ticket_id,
                error=error,
                message_form=StaffMessageForm(initial=typed),
            )
    return redirect("staff-appeal-detail", slug, ticket_id)


@require_POST
@staff_required(Area.APPEALS)
def staff_appeal_assign(request: HttpRequest, slug: str, ticket_id: int) -> HttpResponse:
    client = _client(request, slug)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a staff member and a priority.")
        return redirect("staff-appeal-detail", slug, ticket_id)
    with schema_context(client.schema_name):
        ticket = selectors.appeal_get(ticket_id=ticket_id)
        try:
            services.appeal_assign(
                ticket=ticket,
                actor=request.user,
                client=client,
                assignee=form.cleaned_data["assignee"],
                priority=form.cleaned_data["priority"],
            )
        except services.AppealInvalid as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, "Assignment saved.")
    return redirect("staff-appeal-detail", slug, ticket_id)


@require_POST
@staff_required(Area.APPEALS)
def staff_appeal_evidence(request: HttpRequest, slug: str, ticket_id: int) -> HttpResponse:
    client = _client(request, slug)
    with schema_context(client.schema_name):
        ticket = selectors.appeal_get(ticket_id=ticket_id)
        attachment = services.evidence_bundle_attach(
            ticket=ticket, actor=request.user, client=client
        )
    messages.success(request, f"Evidence bundle {attachment.original_name} attached.")
    return redirect("staff-appeal-detail", slug, ticket_id)


@staff_required(Area.APPEALS)
def staff_attachment_download(request: HttpRequest, slug: str, ticket_id: int, attachment_id: int):
    client = _client(request, slug)
    with schema_context(client.schema_name):
        attachment = get_object_or_404(AppealAttachment, pk=attachment_id, ticket_id=ticket_id)
        handle = attachment.file.open("rb")
    return FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
