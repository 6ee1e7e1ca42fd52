"""Template pages. Client host: the list by status, the editor with live lint and preview,
a template's page (status at Meta, pauses, revisions and their diff, comments), submit.
Public host: the staff review queue (one indexed query on the public work index) and its
actions, run in the client's schema."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import timeuntil_filter
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from compliance.models import WhatsAppAccount
from portal.exports import csv_download, list_querystring
from portal.meta import types as meta
from portal.rows import csrf_field, escape, local_date
from portal.template_urls import url_filler
from templates_review import selectors, services
from templates_review.choices import (
    CLIENT_AUTHORS,
    COMMENTERS,
    REVIEWERS,
    ReviewReason,
    ReviewState,
    StatusFilter,
)
from templates_review.diff import diff_html
from templates_review.forms import (
    MEDIA_FORMATS,
    CommentForm,
    DecisionForm,
    QueueFilterForm,
    TemplateEditorForm,
    button_formset,
    buttons_initial,
    components_from_fields,
    fields_from_revision,
)
from templates_review.linter import Severity, lint_template
from templates_review.models import MessageTemplate
from templates_review.pacing import UNPAUSE_ROLES, utility_pacing_until
from templates_review.preview import render_preview
from templates_review.staff_rows import QueueChrome, queue_item_parts
from tenants.actors import Actor
from tenants.permissions import Area
from tenants.selectors import queue_cursor_after, queue_cursor_parse
from tenants.views import staff_client_get, staff_required


def _author_or_403(request: HttpRequest) -> services.Actor:
    actor = Actor.from_request(request)
    if actor.role not in CLIENT_AUTHORS:
        raise PermissionDenied("Your role does not allow editing templates.")
    return actor


def _lint_context(data, *, header_example_stored: bool = False) -> dict:
    """Findings and preview for the editor's fields."""
    return _lint_components(
        name=_value(data, "name"),
        language=_value(data, "language"),
        category=_value(data, "category"),
        parameter_format=_value(data, "parameter_format") or "positional",
        components=components_from_fields(data),
        header_example_stored=header_example_stored,
    )


def _value(data, key: str) -> str:
    value = data.get(key) or ""
    return value if isinstance(value, str) else str(value)


def _lint_components(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: list[dict],
    header_example_stored: bool = False,
) -> dict:
    findings = lint_template(
        name=name,
        language=language,
        category=str(category).upper(),
        components=components,
        parameter_format=parameter_format,
        header_example_stored=header_example_stored,
    )
    return {
        "findings": findings,
        "errors": sum(f.severity == Severity.ERROR for f in findings),
        "warnings": sum(f.severity == Severity.WARNING for f in findings),
        "preview": render_preview(components=components, parameter_format=parameter_format),
    }


# What a row of the templates list shows of a template (`_template_rows`).
TEMPLATE_ROW_FIELDS = (
    "name", "language", "category", "review_state", "meta_status", "paused_until",
    "pause_count", "quality", "updated_at",
)  # fmt: skip


def _labels(field: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in MessageTemplate._meta.get_field(field).flatchoices}


def _template_rows(templates: list[MessageTemplate]) -> None:
    """Each template's row of the list (`template.row`), written here once a row instead of by
    the template's tags and filters (~40 lookups a row were most of the page's render). The
    markup is what the row template wrote (tests/templates_review/test_template_list_rows.py
    holds them side by side); every value shown is escaped."""
    detail = url_filler("template-detail")
    categories, qualities = _labels("category"), _labels("quality")
    for t in templates:
        paused = ""
        if t.pause_time_left():
            left = escape(timeuntil_filter(t.paused_until))
            paused = f'<br><span class="muted">paused, {left} left</span>'
        disabled = ""
        if t.meta_status == meta.TemplateStatus.DISABLED:
            disabled = (
                f'<br><span class="muted">disabled after {escape(t.pause_count)} pauses</span>'
            )
        if t.review_state == ReviewState.SENT_TO_META:
            quality = (
                f'<span class="badge quality-{escape(t.quality)}">'
                f"{escape(qualities.get(t.quality, t.quality))}</span>"
            )
        else:
            quality = '<span class="muted">—</span>'
        updated = local_date(t.updated_at, "Y-m-d H:i")
        link = f'<a href="{escape(detail(t.pk))}"><strong>{escape(t.name)}</strong></a>'
        label = escape(t.display_status)
        status = f'<span class="badge tstatus-{escape(t.status_key)}">{label}</span>'
        t.row = mark_safe(  # noqa: S308 - every value in it is escaped
            f'\n  <tr>\n    <td>{link} <span class="muted">{escape(t.language)}</span></td>\n'
            f"    <td>{escape(categories.get(t.category, t.category))}</td>\n    <td>\n"
            f"      {status}\n"
            f"      {paused}\n      {disabled}\n    </td>\n"
            f"    <td>{quality}</td>\n"
            f'    <td class="muted">{updated}</td>\n  </tr>\n  '
        )


def template_list(request: HttpRequest) -> HttpResponse:
    """Templates by name, 50 a page (keyset: `?after=` the last one shown), by status."""
    status = request.GET.get("status", "")
    after = selectors.template_list_cursor(request.GET.get("after"))
    page = selectors.TEMPLATE_PAGE_SIZE
    templates = list(
        selectors.templates_list(status=status, after=after)
        .select_related(None)
        .only(*TEMPLATE_ROW_FIELDS)[: page + 1]
    )
    more = len(templates) > page
    templates = templates[:page]
    _template_rows(templates)
    return render(
        request,
        "templates_review/template_list.html",
        {
            "templates": templates,
            "status": status,
            "next_query": (
                list_querystring(request.GET, after=str(templates[-1].pk)) if more else ""
            ),
            "first_query": list_querystring(request.GET, after=None),
            "paged": after is not None,
            "filters": StatusFilter.choices,
            "can_author": Actor.from_request(request).role in CLIENT_AUTHORS,
        },
    )


def _editor(request: HttpRequest, template: MessageTemplate | None) -> HttpResponse:
    """The full editor: every component Meta offers, the example file of a media header, the
    buttons as rows ("Add a button" adds one without saving) and the authentication fields."""
    actor = _author_or_403(request)
    accounts = list(WhatsAppAccount.objects.order_by("pk"))
    at_meta = bool(template and template.meta_id)
    initial: dict = {}
    loses_parts = False
    if template is not None:
        latest = template.revisions.order_by("-number").first() or template
        initial = fields_from_revision(latest)
        initial["account"] = str(template.account_id)
        # Parts the editor's fields cannot show (other kinds of buttons, several OTP apps).
        loses_parts = components_from_fields(initial) != list(latest.components)
    elif accounts:
        initial["account"] = str(accounts[0].pk)
    posted = request.method == "POST"
    adding = posted and "add_button" in request.POST
    form = TemplateEditorForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        initial=initial,
        accounts=accounts,
        at_meta=at_meta,
    )
    buttons = button_formset(
        request.POST if posted else None,
        initial=buttons_initial(initial),
        add=1 if adding or not posted else 0,
    )
    stored = bool(template and template.header_example)
    if not accounts:
        form.add_error(None, "Your BSP has not linked a WhatsApp account to this client yet.")
    elif posted and not adding and form.is_valid() and buttons.is_valid():
        saved = _editor_save(request, template, form, accounts, actor)
        if saved is not None:
            messages.success(request, "Draft saved.")
            return redirect("template-detail", saved.pk)
    lint_source = request.POST if posted else {**initial}
    lint = _lint_context(lint_source, header_example_stored=stored)
    if not posted and template is None:
        # A new template's empty fields are not errors: the checks start with the first input.
        lint |= {"findings": [], "errors": 0, "not_started": True}
    return render(
        request,
        "templates_review/template_editor.html",
        {
            "form": form,
            "buttons": buttons,
            "template": template,
            "loses_parts": loses_parts,
            "header_example_stored": stored,
            "show_errors": posted and not adding,
            **lint,
        },
        status=400 if posted and not adding and (form.errors or buttons.errors) else 200,
    )


def _editor_save(request, template, form, accounts, actor) -> MessageTemplate | None:
    """Save the editor's draft (and its header example); None with form errors added."""
    data = form.cleaned_data
    upload = data.get("header_file")
    fields = request.POST.copy()
    if upload is not None:  # a new example replaces the handle Meta gave the old one
        fields["header_handle"] = ""
    content = {key: data[key] for key in ("name", "language", "category", "parameter_format")}
    content |= {
        "components": components_from_fields(fields),
        "actor": actor,
        "client": request.tenant,
    }
    try:
        with transaction.atomic():
            if template is None:
                account = next((a for a in accounts if str(a.pk) == data["account"]), accounts[0])
                template = services.template_create_draft(account=account, **content)
            else:
                services.template_edit(template=template, **content)
            if upload is not None:
                services.template_header_example_set(
                    template=template,
                    upload=upload,
                    media_type=upload.media_type,
                    actor=actor,
                    client=request.tenant,
                )
            elif data.get("header_format") not in MEDIA_FORMATS:
                services.template_header_example_clear(
                    template=template, actor=actor, client=request.tenant
                )
    except ValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
        return None
    except services.TransitionNotAllowed as exc:
        form.add_error(None, str(exc))
        return None
    return template


def template_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    return _editor(request, selectors.template_get(template_id=template_id))


@require_POST
def template_lint(request: HttpRequest) -> HttpResponse:
    """The editor's live check (htmx): findings and the preview; nothing is saved."""
    return render(
        request,
        "templates_review/partials/lint_panel.html",
        _lint_context(
            request.POST, header_example_stored=request.POST.get("header_example_stored") == "1"
        ),
    )


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
            header_example_stored=bool(template.header_example),
        )
    actor = Actor.from_request(request)
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
            "diff_html": diff_html(diff),
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
    """Submit for review: lint errors block it, warnings need "I have read the warnings"
    (the rule is services.template_submission_check)."""
    template = selectors.template_get(template_id=template_id)
    actor = Actor.from_request(request)
    try:
        services.template_submit_checked(
            template=template,
            actor=actor,
            client=request.tenant,
            warnings_acknowledged=request.POST.get("warnings_read") == "1",
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
    actor = Actor.from_request(request)
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
    actor = Actor.from_request(request)
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


QUEUE_CSV_HEADER = [
    "client", "template", "revision", "language_category_waba", "state", "category",
    "waiting_since", "findings", "send_error",
]  # fmt: skip


@staff_required(Area.TEMPLATE_QUEUE)
def staff_queue(request: HttpRequest) -> HttpResponse:
    """Every client's templates awaiting the BSP, longest waiting first, with the WhatsApp
    preview; filtered by client and category (a plain GET form). The page reads only the public
    work index (one query), never a client's schema. `?export=csv` downloads every match."""
    return _queue_page(request)


def _queue_page(request: HttpRequest, *, kept: dict | None = None, status: int = 200):
    """The queue; after a refused decision `kept` holds the item's typed reason and comment
    and the form's errors, shown on that item."""
    form = QueueFilterForm(request.GET)
    chosen = form.filters()
    filters = {**chosen, "managed_by": request.actor.list_manager_id}
    if request.GET.get("export") == "csv":
        rows = (
            [
                item.client.slug,
                item.title,
                item.data.get("revision"),
                item.subtitle,
                item.status,
                item.data.get("category"),
                datetime.fromtimestamp(item.sort_key, UTC),
                item.data.get("findings_total"),
                item.data.get("send_error"),
            ]
            for item in selectors.review_queue_query(**filters, limit=None).iterator(
                chunk_size=2000
            )
        )
        return csv_download(filename="template-review.csv", header=QUEUE_CSV_HEADER, rows=rows)
    after = queue_cursor_parse(request.GET.get("after"))
    items = selectors.review_queue(**filters, after=after)
    action = url_filler("staff-template-action", 3)
    # One token for the page, as the context processor's lazy one was (its forms and htmx's).
    csrf_token = get_token(request)
    chrome = QueueChrome(
        can_review=Actor.staff(request.user).role in REVIEWERS,
        csrf_input=csrf_field(csrf_token),
        reason_options=_REASON_OPTIONS,
        reasons=ReviewReason.choices,
        comment_max=DecisionForm.base_fields["comment"].max_length,
        kept=kept,
    )
    for item in items:
        slug, pk = item.client.slug, item.object_id
        item.approve_url = action(slug, pk, "approve")
        item.request_changes_url = action(slug, pk, "request_changes")
        item.reject_url = action(slug, pk, "reject")
        item.diff_html = diff_html(item.data.get("diff") or [])
        item.waiting_since = datetime.fromtimestamp(item.sort_key, UTC)
        item.preview = render_preview(
            components=item.data.get("components") or [],
            parameter_format=item.data.get("parameter_format") or "positional",
        )
        item.before_preview, item.after_preview = queue_item_parts(item, chrome)
    more = queue_cursor_after(items, limit=selectors.QUEUE_PAGE_SIZE)
    return render(
        request,
        "templates_review/staff_queue.html",
        {
            "items": items,
            "form": form,
            "filtered": any(chosen.values()),
            "next_query": list_querystring(request.GET, after=more) if more else "",
            "export_query": list_querystring(request.GET, after=None, export="csv"),
            "csrf_token": csrf_token,
        },
        status=status,
    )


@staff_required(Area.TEMPLATE_QUEUE)
@require_POST
def staff_queue_action(request: HttpRequest, slug: str, template_id: int, action: str):
    client = staff_client_get(request, slug, Area.TEMPLATE_QUEUE)
    actor = Actor.staff(request.user)
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
                if not form.is_valid():  # the queue again, with the reason and what was typed
                    kept = {
                        "slug": slug,
                        "object_id": str(template_id),
                        "reason": request.POST.get("reason", ""),
                        "comment": request.POST.get("comment", ""),
                        "errors": (["Choose a reason."] if "reason" in form.errors else [])
                        + list(form.errors.get("comment", [])),
                    }
                    return _queue_page(request, kept=kept, status=400)
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
