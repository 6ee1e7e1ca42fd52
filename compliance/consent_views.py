"""Client pages for consent: contact search, a contact's history, imports with their progress,
the export, and the messaging policy."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import consent_selectors as selectors
from compliance import import_staging
from compliance.api.import_views import errors_response, export_response
from compliance.choices import ConsentKind
from compliance.consent import (
    consent_record_opt_in,
    consent_record_opt_out,
    messaging_policy_update,
)
from compliance.consent_forms import ConsentRecordForm, ImportUploadForm, MessagingPolicyForm
from compliance.exports import KINDS
from compliance.imports import ImportRejected, consent_import_create, import_preview
from compliance.models import ConsentImport, MessagingPolicy
from portal.rows import escape
from portal.template_urls import url_filler
from tenants.actors import request_may, require_area
from tenants.permissions import MANAGERS, OPERATORS, Area

CONTACTS_PER_PAGE = 50


def _contact_rows(contacts: list) -> None:
    """Each contact's row of the list (`contact.row`), written here once a row instead of by the
    template's tags (a `{% url %}` and a cell a category a row were most of the page's render).
    The markup is what the row template wrote (tests/compliance/test_contact_rows.py holds them
    side by side); every value is escaped."""
    detail = url_filler("consent-contact")
    for contact in contacts:
        label = escape(contact.label)
        bsuid = ""
        if contact.phone and contact.bsuid:
            bsuid = f'<br><span class="muted">{escape(contact.bsuid)}</span>'
        cells = "".join(
            f'<td><span class="badge consent-{escape(status)}">{escape(status_label)}</span></td>'
            for _label, status, status_label in contact.category_states
        )
        contact.row = mark_safe(  # noqa: S308 - every value in it is escaped
            f'\n    <tr>\n      <td><a href="{escape(detail(contact.label))}"><strong>{label}'
            f"</strong></a>{bsuid}</td>\n"
            f"      <td>{escape(contact.name or '—')}</td>\n"
            f"      {cells}\n    </tr>\n  "
        )


@require_area(Area.CONSENT)
@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    contacts = selectors.contacts_search(q=q, default_region=request.tenant.default_region)
    page = Paginator(contacts, CONTACTS_PER_PAGE).get_page(request.GET.get("page"))
    states = selectors.states_by_contact(contacts=list(page))
    for contact in page:
        contact.category_states = states[contact.pk]
    _contact_rows(list(page))
    context = {"page": page, "q": q}
    if request.htmx and request.htmx.target == "contact-results":
        return render(request, "compliance/consent/partials/contact_results.html", context)
    return render(request, "compliance/consent/contact_list.html", context)


@require_area(Area.CONSENT)
@require_http_methods(["GET", "POST"])
def contact_detail(request: HttpRequest, phone: str) -> HttpResponse:
    """A contact's consent and history, with the form that records one opt-in or opt-out."""
    region = request.tenant.default_region
    contact = selectors.contact_with_history(phone=phone, default_region=region)
    form = None
    if request_may(request, Area.CONSENT, roles=OPERATORS):
        form = ConsentRecordForm(
            request.POST if request.method == "POST" else None,
            default_region=region,
            fixed_phone=contact.phone,
        )
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Your role does not allow recording consent.")
        if form.is_valid() and form.cleaned_data["phone"] == contact.phone:
            _record(request, form)
            return redirect("consent-contact", contact.phone)
    return render(
        request,
        "compliance/consent/contact_detail.html",
        {
            "contact": contact,
            "states": selectors.states_by_category(contact),
            "events": list(contact.consent_events.all()),
            "form": form,
        },
        status=400 if form is not None and form.errors else 200,
    )


def _record(request: HttpRequest, form: ConsentRecordForm) -> None:
    """Record the form's opt-in or opt-out through the consent services (audited there)."""
    data = form.cleaned_data
    record = consent_record_opt_in if data["kind"] == ConsentKind.OPT_IN else consent_record_opt_out
    record(
        phone=data["phone"],
        category=data["category"],
        source=data["source"],
        evidence=form.evidence(),
        actor=request.user,
        occurred_at=data["occurred_at"],
    )
    messages.success(
        request,
        f"{'Opt-in' if data['kind'] == ConsentKind.OPT_IN else 'Opt-out'} recorded for "
        f"{data['phone']}.",
    )


@require_area(Area.CONSENT)
@require_http_methods(["GET", "POST"])
def contact_record(request: HttpRequest) -> HttpResponse:
    """Record an opt-in or opt-out for any number, a new contact included."""
    if not request_may(request, Area.CONSENT, roles=OPERATORS):
        raise PermissionDenied("Your role does not allow recording consent.")
    form = ConsentRecordForm(
        request.POST if request.method == "POST" else None,
        default_region=request.tenant.default_region,
    )
    if request.method == "POST" and form.is_valid():
        _record(request, form)
        return redirect("consent-contact", form.cleaned_data["phone"])
    return render(
        request,
        "compliance/consent/contact_record.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@require_area(Area.CONSENT)
@require_GET
def consent_export(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "state")
    if kind not in KINDS:
        raise Http404("Unknown export.")
    return export_response(kind=kind, tenant=request.tenant)


@require_area(Area.CONSENT)
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """Upload a CSV: it is checked and previewed first (nothing is imported yet)."""
    can_upload = request_may(request, Area.CONSENT, roles=OPERATORS)
    form = ImportUploadForm()
    if request.method == "POST":
        if not can_upload:
            raise PermissionDenied("Your role does not allow importing consent.")
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                preview = import_preview(upload=upload, region=request.tenant.default_region)
            except ImportRejected as exc:
                form.add_error("file", str(exc))
            else:
                token = import_staging.stage(upload=upload)
                return render(
                    request,
                    "compliance/consent/import_preview.html",
                    {"preview": preview, "token": token, "name": upload.name},
                )
    return render(
        request,
        "compliance/consent/import_list.html",
        {
            "form": form,
            "can_upload": can_upload,
            "imports": list(ConsentImport.objects.all()[:20]),
        },
        status=400 if form.errors else 200,
    )


@require_area(Area.CONSENT)
@require_POST
def import_apply(request: HttpRequest) -> HttpResponse:
    """Apply a previewed upload: the import proper (queued, with its progress page)."""
    if not request_may(request, Area.CONSENT, roles=OPERATORS):
        raise PermissionDenied("Your role does not allow importing consent.")
    try:
        with import_staging.staged(token=request.POST.get("token", "")) as upload:
            job = consent_import_create(upload=upload, actor=request.user)
    except import_staging.StagedGone as exc:
        messages.error(request, str(exc))
        return redirect("consent-imports")
    except ImportRejected as exc:
        messages.error(request, str(exc))
        return redirect("consent-imports")
    return redirect("consent-import", job.pk)


@require_area(Area.CONSENT)
@require_GET
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    job = get_object_or_404(ConsentImport, pk=import_id)
    template = (
        "compliance/consent/partials/import_status.html"
        if request.htmx
        else "compliance/consent/import_detail.html"
    )
    return render(request, template, {"job": job, "error_rows": selectors.import_errors_head(job)})


@require_area(Area.CONSENT)
@require_GET
def import_errors(request: HttpRequest, import_id: int) -> FileResponse:
    return errors_response(import_id=import_id)


@require_area(Area.CONSENT)
@require_http_methods(["GET", "POST"])
def policy_settings(request: HttpRequest) -> HttpResponse:
    can_edit = request_may(request, Area.CONSENT, roles=MANAGERS)
    policy = MessagingPolicy.current()
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only the client's owners and admins may change the policy.")
        form = MessagingPolicyForm(request.POST, instance=policy)
        if form.is_valid():
            messaging_policy_update(actor=request.user, **form.cleaned_data)
            messages.success(request, "The messaging policy is saved; it applies at once.")
            return redirect("consent-policy")
    else:
        form = MessagingPolicyForm(instance=policy)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "compliance/consent/policy.html",
        {"form": form, "can_edit": can_edit},
        status=400 if form.errors else 200,
    )
