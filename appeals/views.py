"""Client pages (a client's host): list, open (from an alert or from scratch), detail with the
thread, uploads, status and clocks, transitions, the evidence bundle and the recovery plan.

Nothing here shows internal notes: they are read through the client selectors only.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from appeals import choices as c
from appeals import selectors, services
from appeals.filtersets import AppealTicketFilterSet
from appeals.forms import AnswersForm, AppealOpenForm, MessageForm
from appeals.models import RecoveryItem
from compliance.exports import csv_safe
from compliance.models import HealthEvent
from portal.rows import escape, local_date
from portal.template_urls import url_filler
from tenants.actors import Actor, require_area
from tenants.permissions import OPERATORS, Area

CLIENT_ACTIONS = [a for a, step in c.TRANSITIONS.items() if step.roles & c.CLIENT_ROLES]
# Steps that cannot be undone: the page asks first, and a post without the tick changes nothing.
CONFIRM_FIRST = {
    "withdraw": "Nothing changed: tick the box to confirm you want to withdraw the appeal.",
}


def _role(request: HttpRequest) -> str | None:
    return Actor.from_request(request).role_for(Area.APPEALS, client=request.tenant)


def appeal_list(request: HttpRequest) -> HttpResponse:
    filterset = AppealTicketFilterSet(request.GET, queryset=selectors.appeals_for_client())
    appeals = list(filterset.qs.only(*APPEAL_ROW_FIELDS)[:200])
    _appeal_rows(appeals)
    return render(
        request,
        "appeals/list.html",
        {"appeals": appeals, "filter": filterset, "statuses": c.Status.choices},
    )


# What a row of the appeals list shows of an appeal and of its subject (`subject_label`).
APPEAL_ROW_FIELDS = (
    "title", "subject_kind", "block_type", "status", "outcome", "appeal_deadline",
    *selectors.SUBJECT_LABEL_FIELDS,
)  # fmt: skip


def _appeal_rows(appeals: list) -> None:
    """Each appeal's row of the list (`appeal.row`), written here once a row instead of by the
    template's tags and filters. The markup is what the row template wrote (tests/appeals/
    test_appeal_rows.py holds them side by side); values are escaped."""
    detail = url_filler("appeal-detail")
    blocks, statuses = dict(c.BlockType.choices), dict(c.Status.choices)
    outcomes = dict(c.Outcome.choices)
    for a in appeals:
        outcome = ""
        if a.outcome:
            outcome = f' <span class="badge">{escape(outcomes.get(a.outcome, a.outcome))}</span>'
        a.row = mark_safe(  # noqa: S308 - every value in it is escaped
            f'\n    <tr>\n      <td><a href="{escape(detail(a.pk))}"><strong>'
            f"{escape(a.reference)}</strong> {escape(a.title)}</a></td>\n"
            f"      <td>{escape(a.subject_label)}</td>\n"
            f"      <td>{escape(blocks.get(a.block_type, a.block_type))}</td>\n"
            f'      <td><span class="badge">{escape(statuses.get(a.status, a.status))}</span>'
            f"{outcome}</td>\n"
            f"      <td>{local_date(a.appeal_deadline, 'Y-m-d')}</td>\n"
            "    </tr>\n  "
        )


@require_area(Area.APPEALS, roles=OPERATORS)
def appeal_open(request: HttpRequest) -> HttpResponse:
    """The guided form; `?event=<id>` prefills it from an enforcement event (an alert)."""
    event = None
    if request.GET.get("event") or request.POST.get("event"):
        try:
            event_id = int(request.GET.get("event") or request.POST.get("event"))
        except ValueError:
            raise Http404 from None
        event = get_object_or_404(HealthEvent.objects.select_related("number"), pk=event_id)
    initial = {}
    if event is not None:
        prefill = services.prefill_from_event(event=event)
        initial = {
            "title": prefill["title"],
            "subject_kind": prefill["subject_kind"],
            "account": prefill["account_id"],
            "number": prefill["number_id"],
            "template": prefill["template_id"],
            "block_type": prefill["block_type"],
            "violation_type": prefill["violation_type"],
            "blocked_at": prefill["blocked_at"].strftime("%Y-%m-%dT%H:%M"),
            "block_ends_at": prefill["block_ends_at"].strftime("%Y-%m-%dT%H:%M")
            if prefill["block_ends_at"]
            else None,
        }
    form = AppealOpenForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.appeal_create(
                actor=request.user,
                client=request.tenant,
                title=data["title"],
                subject_kind=data["subject_kind"],
                account=data["account"],
                number=data["number"],
                template=data["template"],
                block_type=data["block_type"],
                blocked_at=data["blocked_at"],
                block_ends_at=data["block_ends_at"],
                violation_type=data["violation_type"],
                api_uses=data["api_uses"],
                consent_process=data["consent_process"],
                improvement_plan=data["improvement_plan"],
                priority=data["priority"],
                source_event=event,
            )
        except services.AppealInvalid as exc:
            for name, reason in exc.errors.items():
                form.add_error(name if name in form.fields else None, reason)
        else:
            messages.success(request, f"Appeal {ticket.reference} saved as a draft.")
            return redirect("appeal-detail", ticket.pk)
    return render(request, "appeals/open.html", {"form": form, "event": event})


def _detail_context(
    request: HttpRequest,
    ticket,
    *,
    answers_form: AnswersForm | None = None,
    message_form: MessageForm | None = None,
    error: str = "",
) -> dict:
    role = _role(request)
    actions = [a for a in c.actions_for(status=ticket.status, role=role) if a in CLIENT_ACTIONS]
    clocks = services.clocks(ticket=ticket)
    return {
        "ticket": ticket,
        "thread": selectors.thread_for_client(ticket=ticket),
        "files": list(selectors.files_for_client(ticket=ticket).filter(message__isnull=True)),
        "recovery": selectors.recovery_items(ticket=ticket),
        "clocks": clocks,
        "warn_at": settings.APPEALS_WARN_AT_PERCENT,
        "actions": [(a, c.TRANSITIONS[a].label) for a in actions],
        "confirm_first": CONFIRM_FIRST,
        "can_write": role in c.CLIENT_OPERATORS | c.APPEAL_STAFF
        and ticket.status != c.Status.CLOSED,
        "can_edit": role in c.CLIENT_OPERATORS and ticket.status in c.EDITABLE,
        "answers_form": answers_form or AnswersForm(instance=ticket),
        "message_form": message_form or MessageForm(),
        "error": error,
    }


def appeal_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.appeal_get_for_page(ticket_id=ticket_id)
    return render(request, "appeals/detail.html", _detail_context(request, ticket))


def _fail(request: HttpRequest, exc: Exception) -> None:
    messages.error(request, refusal(exc))


def refusal(exc: Exception, *, had_file: bool = False) -> str:
    """The plain reason of a refused step; a browser cannot keep a chosen file, so say so."""
    reason = " ".join(exc.errors.values()) if isinstance(exc, services.AppealInvalid) else str(exc)
    return f"{reason} Choose the file again." if had_file else reason


def post_message(request: HttpRequest, form, *, ticket, client) -> str:
    """Post the thread form's message (a staff form may make it an internal note); '' when
    posted, else the plain reason (client and staff pages)."""
    if not form.is_valid():
        return " ".join(e for errors in form.errors.values() for e in errors)
    try:
        services.appeal_message_post(
            ticket=ticket,
            actor=request.user,
            client=client,
            body=form.cleaned_data["body"],
            internal=form.cleaned_data.get("internal", False),
            upload=form.cleaned_data["file"],
        )
    except (services.AppealInvalid, services.AppealStateError) as exc:
        return refusal(exc, had_file=bool(request.FILES))
    return ""


def _refused(request: HttpRequest, ticket_id: int, **forms) -> HttpResponse:
    """The page again with what was typed and the reason, so nothing is lost."""
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    return render(
        request, "appeals/detail.html", _detail_context(request, ticket, **forms), status=400
    )


@require_POST
@require_area(Area.APPEALS, roles=OPERATORS)
def appeal_answers(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Save the guided answers; with `then=submit` (the form's "Submit to the BSP" button) the
    appeal is then submitted, so what was just typed is what the BSP gets."""
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    form = AnswersForm(request.POST)
    then_submit = request.POST.get("then") == "submit"
    if form.is_valid():
        try:
            ticket = services.appeal_update_answers(
                ticket=ticket,
                actor=request.user,
                client=request.tenant,
                **{name: form.cleaned_data[name] for name in services.ANSWER_FIELDS},
            )
            if then_submit:
                ticket = services.appeal_submit(
                    ticket=ticket, actor=request.user, client=request.tenant
                )
        except services.AppealInvalid as exc:
            for name, reason in exc.errors.items():
                form.add_error(name if name in form.fields else None, reason)
        except services.AppealStateError as exc:  # no longer editable: nothing to keep
            _fail(request, exc)
            return redirect("appeal-detail", ticket.pk)
        else:
            if then_submit:
                messages.success(
                    request, f"Appeal {ticket.reference}: answers saved and submitted to your BSP."
                )
            else:
                messages.success(request, "Answers saved.")
            return redirect("appeal-detail", ticket.pk)
    return _refused(request, ticket.pk, answers_form=form)


@require_POST
def appeal_message(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Post to the thread; with htmx the conversation is answered in place."""
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    form = MessageForm(request.POST, request.FILES)
    error = post_message(request, form, ticket=ticket, client=request.tenant)
    # On a refusal the form comes back with the text typed (files must be chosen again).
    kept = {"message_form": MessageForm(initial={"body": request.POST.get("body", "")})}
    if request.htmx:
        context = _detail_context(
            request,
            selectors.appeal_get(ticket_id=ticket_id),
            error=error,
            **(kept if error else {}),
        )
        return render(request, "appeals/partials/conversation.html", context)
    if error:
        return _refused(request, ticket.pk, error=error, **kept)
    return redirect("appeal-detail", ticket.pk)


@require_POST
def appeal_transition(request: HttpRequest, ticket_id: int, action: str) -> HttpResponse:
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    if action not in CLIENT_ACTIONS:
        raise Http404
    if action in CONFIRM_FIRST and request.POST.get("confirm") != "yes":
        messages.error(request, CONFIRM_FIRST[action])
        return redirect("appeal-detail", ticket.pk)
    kwargs = services.transition_arguments(action, request.POST)
    upload = request.FILES.get("file")
    if action == "answer":  # the only client step with a file
        kwargs["upload"] = upload
    try:
        ticket = services.TRANSITION_SERVICES[action](
            ticket=ticket, actor=request.user, client=request.tenant, **kwargs
        )
    except (services.AppealInvalid, services.AppealStateError) as exc:
        if action != "answer":
            _fail(request, exc)
            return redirect("appeal-detail", ticket.pk)
        return _refused(
            request,
            ticket.pk,
            error=refusal(exc, had_file=upload is not None),
            message_form=MessageForm(initial={"body": kwargs["answer"]}),
        )
    messages.success(request, f"Appeal {ticket.reference}: {ticket.get_status_display()}.")
    return redirect("appeal-detail", ticket.pk)


@require_POST
def appeal_evidence(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    attachment = services.evidence_bundle_attach(
        ticket=ticket, actor=request.user, client=request.tenant
    )
    messages.success(request, f"Evidence bundle {attachment.original_name} attached.")
    return redirect("appeal-detail", ticket.pk)


def appeal_export(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The conversation as CSV, as the client sees it (never internal notes)."""
    import csv

    ticket = selectors.appeal_get(ticket_id=ticket_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{ticket.reference}-thread.csv"'
    writer = csv.writer(response)
    writer.writerow(["time", "from", "author", "message", "files"])
    for message in selectors.thread_for_client(ticket=ticket):
        writer.writerow(
            [
                message.created_at.isoformat(),
                message.get_side_display(),
                csv_safe(message.author_label),
                csv_safe(message.body),
                csv_safe(" ".join(f.original_name for f in message.attachments.all())),
            ]
        )
    return response


def attachment_download(request: HttpRequest, ticket_id: int, attachment_id: int):
    ticket = selectors.appeal_get(ticket_id=ticket_id)
    attachment = selectors.attachment_for_client(ticket=ticket, attachment_id=attachment_id)
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )


@require_POST
def recovery_toggle(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(RecoveryItem.objects.select_related("ticket"), pk=item_id)
    try:
        item = services.recovery_item_set_done(
            item=item,
            actor=request.user,
            client=request.tenant,
            done=request.POST.get("done") == "1",
        )
    except services.AppealStateError as exc:
        if request.htmx:
            return HttpResponse(str(exc), status=409)
        _fail(request, exc)
    if request.htmx:
        return render(
            request, "appeals/partials/recovery_item.html", {"item": item, "can_tick": True}
        )
    return redirect("appeal-detail", item.ticket_id)
