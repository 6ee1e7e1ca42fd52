"""Template pages. Client host: the list by status, the editor with live lint and preview,
a template's page (status at Meta, pauses, revisions and their diff, comments), submit.
Public host: the staff review queue (one indexed query on the public work index) and its
actions, run in the client's schema."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from compliance.models import WhatsAppAccount
from templates_review import selectors, services
from templates_review.choices import (
    CLIENT_AUTHORS,
    COMMENTERS,
    REVIEWERS,
    ReviewReason,
    ReviewState,
    StatusFilter,
)
from templates_review.forms import (
    CommentForm,
    DecisionForm,
    TemplateEditorForm,
    components_from_fields,
    fields_from_revision,
)
from templates_review.linter import Severity, lint_template
from templates_review.models import MessageTemplate
from templates_review.pacing import UNPAUSE_ROLES, utility_pacing_until
from templates_review.preview import render_preview
from tenants.selectors import clients_routable, queue_cursor_after, queue_cursor_parse
from tenants.views import staff_required


def _author_or_403(request: HttpRequest) -> services.Actor:
    actor = selectors.actor_for_client_request(request)
    if actor.role not in CLIENT_AUTHORS:
        raise PermissionDenied("Your role does not allow editing templates.")
    return actor


def _lint_context(data: dict) -> dict:
    """Findings and preview for the editor's fields."""
    return _lint_components(
        name=data.get("name") or "",
        language=data.get("language") or "",
        category=data.get("category") or "",
        parameter_format=data.get("parameter_format") or "positional",
        components=components_from_fields(data),
    )


def _lint_components(
    *, name: str, language: str, category: str, parameter_format: str, components: list[dict]
) -> dict:
    findings = lint_template(
        name=name,
        language=language,
        category=str(category).upper(),
        components=components,
        parameter_format=parameter_format,
    )
    return {
        "findings": findings,
        "errors": sum(f.severity == Severity.ERROR for f in findings),
        "preview": render_preview(components=components, parameter_format=parameter_format),
    }


def template_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    templates = list(selectors.templates_list(status=status)[:500])
    return render(
        request,
        "templates_review/template_list.html",
        {
            "templates": templates,
            "status": status,
            "filters": StatusFilter.choices,
            "can_author": selectors.actor_for_client_request(request).role in CLIENT_AUTHORS,
        },
    )


def _editor(request: HttpRequest, template: MessageTemplate | None) -> HttpResponse:
    actor = _author_or_403(request)
    accounts = list(WhatsAppAccount.objects.order_by("pk"))
    at_meta = bool(template and template.meta_id)
    initial = {}
    loses_parts = False
    if template is not None:
        latest = template.revisions.order_by("-number").first() or template
        initial = fields_from_revision(latest)
        initial["account"] = str(template.account_id)
        # Parts the editor's fields cannot show (a media header, other button types).
        loses_parts = components_from_fields(initial) != list(latest.components)
    elif accounts:
        initial["account"] = str(accounts[0].pk)
    form = TemplateEditorForm(
        request.POST or None, initial=initial, accounts=accounts, at_meta=at_meta
    )
    if not accounts:
        form.add_error(None, "Your BSP has not linked a WhatsApp account to this client yet.")
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        content = {key: data[key] for key in ("name", "language", "category", "parameter_format")}
        content |= {"components": form.components(), "actor": actor, "client": request.tenant}
        try:
            if template is None:
                account = next((a for a in accounts if str(a.pk) == data["account"]), accounts[0])
                template = services.template_create_draft(account=account, **content)
            else:
                services.template_edit(template=template, **content)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        except services.TransitionNotAllowed as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Draft saved.")
            return redirect("template-detail", template.pk)
    lint_source = form.data if form.is_bound else {**form.initial, **initial}
    return render(
        request,
        "templates_review/template_editor.html",
        {
            "form": form,
            "template": template,
            "loses_parts": loses_parts,
            **_lint_context(lint_source),
        },
    )


def template_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    return _editor(request, selectors.template_get(template_id=template_id))


@require_POST
def template_lint(request: HttpRequest) -> HttpResponse:
    """The editor's live check (htmx): findings and the preview; nothing is saved."""
    return render(request, "templates_review/partials/lint_panel.html", _lint_context(request.POST))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    return _detail_page(request, template_id, comment_form=CommentForm())


def _detail_page(
    request: HttpRequest, template_id: int, *, comment_form: CommentForm, status: int = 200
) -> HttpResponse:
    template = selectors.template_detail(template_id=template_id)
    old, new, diff = selectors.revisions_diff(
        template,
        old=_int_or_none(request.GET.get("old")),
        new=_int_or_none(request.GET.get("new")),
    )
    latest = selectors.latest_revision(template)
    lint = None
    if latest is not None:  # the revision as stored, whatever components it has
        lint = _lint_components(
            name=latest.name,
            language=latest.language,
            category=latest.category,
            parameter_format=latest.parameter_format,
            components=list(latest.components),
        )
    actor = selectors.actor_for_client_request(request)
    return render(
        request,
        "templates_review/template_detail.html",
        {
            "template": template,
            "latest": latest,
            "revisions": list(template.revisions.all()),
            "comments": list(template.comments.all()),
            "old": old,
            "new": new,
            "diff": diff,
            "lint": lint,
            "pause_left": template.pause_time_left(),
            "can_unpause": template.needs_unpause and actor.role in UNPAUSE_ROLES,
            "utility_pacing_until": utility_pacing_until(account=template.account)
            if template.category == "utility"
            else None,
            "can_author": actor.role in CLIENT_AUTHORS,
            "can_submit": actor.role in CLIENT_AUTHORS
            and template.review_state in (ReviewState.DRAFT, ReviewState.CHANGES_REQUESTED),
            "comment_form": comment_form,
        },
        status=status,
    )


@require_POST
def template_submit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = selectors.template_get(template_id=template_id)
    try:
        services.template_submit(
            template=template,
            actor=selectors.actor_for_client_request(request),
            client=request.tenant,
        )
    except services.TransitionNotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Submitted: your BSP reviews it before it goes to Meta.")
    return redirect("template-detail", template.pk)


@require_POST
def template_unpause(request: HttpRequest, template_id: int) -> HttpResponse:
    """Unpause a template Meta paused under pacing (owners, admins, BSP staff)."""
    from templates_review.pacing import UnpauseRefused, template_unpause

    template = selectors.template_get(template_id=template_id)
    actor = selectors.actor_for_client_request(request)
    if actor.role not in UNPAUSE_ROLES:
        raise PermissionDenied("Only owners, admins and BSP staff may unpause a template.")
    try:
        template_unpause(template=template, actor=actor)
    except UnpauseRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Unpaused: Meta accepts sends of this template again.")
    return redirect("template-detail", template.pk)


@require_POST
def template_comment(request: HttpRequest, template_id: int) -> HttpResponse:
    template = selectors.template_get(template_id=template_id)
    actor = selectors.actor_for_client_request(request)
    if actor.role not in COMMENTERS:
        raise PermissionDenied("Your role may not comment on templates.")
    form = CommentForm(request.POST)
    if not form.is_valid():  # the page again, with the error and what was written
        return _detail_page(request, template.pk, comment_form=form, status=400)
    services.review_comment_add(
        template=template, actor=actor, body=form.cleaned_data["body"], client=request.tenant
    )
    return redirect(reverse("template-detail", args=[template.pk]) + "#comments")


# --- staff: the review queue on the public host -------------------------------------------


# The reason picker, the same on every queue item: rendered once.
_REASON_OPTIONS = format_html_join(
    "", '<option value="{}">{}</option>', ((value, label) for value, label in ReviewReason.choices)
)


@staff_required
def staff_queue(request: HttpRequest) -> HttpResponse:
    """Every client's templates awaiting the BSP, longest waiting first; the page reads only
    the public work index (one query), never a client's schema."""
    items = selectors.review_queue(after=queue_cursor_parse(request.GET.get("after")))
    for item in items:
        item.waiting_since = datetime.fromtimestamp(item.sort_key, UTC)
    more = queue_cursor_after(items, limit=selectors.QUEUE_PAGE_SIZE)
    return render(
        request,
        "templates_review/staff_queue.html",
        {
            "items": items,
            "more": more,
            "reason_options": _REASON_OPTIONS,
            "can_review": selectors.actor_for_staff(request.user).role in REVIEWERS,
        },
    )


@staff_required
@require_POST
def staff_queue_action(request: HttpRequest, slug: str, template_id: int, action: str):
    client = get_object_or_404(clients_routable(), slug=slug)
    actor = selectors.actor_for_staff(request.user)
    with schema_context(client.schema_name):
        template = get_object_or_404(MessageTemplate, pk=template_id)
        try:
            if action == "approve":
                if template.review_state == ReviewState.APPROVED:  # after a refusal: again
                    services.template_send_request(template=template, actor=actor, client=client)
                else:
                    services.template_approve(
                        template=template,
                        actor=actor,
                        comment=request.POST.get("comment", ""),
                        client=client,
                    )
                messages.success(request, f"{template.name} approved; it is on its way to Meta.")
            elif action in ("request_changes", "reject"):
                form = DecisionForm(request.POST)
                if not form.is_valid():
                    messages.error(request, "Choose a reason.")
                    return redirect("staff-template-queue")
                decide = (
                    services.template_request_changes
                    if action == "request_changes"
                    else services.template_reject
                )
                decide(
                    template=template,
                    actor=actor,
                    reason=ReviewReason(form.cleaned_data["reason"]),
                    comment=form.cleaned_data["comment"],
                    client=client,
                )
                messages.success(
                    request,
                    f"{template.name} "
                    + ("sent back to the client." if action == "request_changes" else "rejected."),
                )
            else:
                raise PermissionDenied("Unknown action.")
        except services.TransitionNotAllowed as exc:
            messages.error(request, str(exc))
    return redirect("staff-template-queue")
