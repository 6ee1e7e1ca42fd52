"""Client pages: the dashboard of numbers, a number's health history, sync now, alerts."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from compliance import dashboard as figures
from compliance import selectors, services
from compliance.account_events import account_state_text
from compliance.api.portfolio_views import portfolio_rows
from compliance.charts import history_chart, sparkline_points
from compliance.choices import SyncState
from compliance.models import Alert, HealthEvent, HealthSnapshot, SyncRun
from portal.db import replica_for_reads
from portal.rows import escape, local_date
from tenants.actors import request_may, require_area
from tenants.permissions import OPERATORS, Area


@require_area(Area.NUMBERS)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The client's dashboard: numbers, alerts and the live figures (compliance/dashboard.py),
    each in a fixed number of queries."""
    numbers = list(selectors.number_rows_for_dashboard())
    lines = selectors.sparklines(numbers=numbers)
    for number in numbers:
        number.sparkline = sparkline_points(lines.get(number.pk, []))
    now = timezone.now()
    live = figures.live_figures(now=now)
    bans, paused = figures.accounts_of_note(now=now)
    return render(
        request,
        "compliance/dashboard.html",
        {
            "client": request.tenant,
            "numbers": numbers,
            "alerts": list(selectors.alerts_open()[:8]),
            "sync": SyncRun.objects.first(),
            "can_operate": request_may(request, Area.NUMBERS, roles=OPERATORS),
            "appeals": live["appeals"],
            "consent": live["consent"],
            "bans": bans,
            "portfolios": portfolio_rows(),
            "paused_accounts": [(account, account_state_text(account)) for account in paused],
        },
    )


def _event_items(events: list) -> None:
    """Each event's item of the number page's timeline (`event.html`), written here once an
    event instead of by the template's tags and filters (two dates, a choice label and four
    lookups an event). The markup is what the item template wrote (tests/compliance/
    test_event_items.py holds them side by side); values are escaped."""
    sources = {str(k): str(v) for k, v in HealthEvent._meta.get_field("source").flatchoices}
    for event in events:
        detail = f'<p class="muted">{escape(event.detail)}</p>' if event.detail else ""
        event.html = mark_safe(  # noqa: S308 - every value in it is escaped
            f'\n    <li class="sev-{escape(event.severity)}">\n'
            f'      <time datetime="{local_date(event.occurred_at, "c")}">'
            f"{local_date(event.occurred_at, 'Y-m-d H:i')}</time>\n"
            f"      <strong>{escape(event.title)}</strong> "
            f'<span class="badge">{escape(sources.get(event.source, event.source))}</span>\n'
            f"      {detail}\n    </li>\n    "
        )


@require_area(Area.NUMBERS)
def number_detail(request: HttpRequest, number_id: int) -> HttpResponse:
    number = selectors.number_get(number_id=number_id)
    end = timezone.now()
    start = end - timedelta(days=30)
    snapshots = list(
        HealthSnapshot.objects.using(replica_for_reads())
        .filter(number=number, taken_at__gte=start)
        .order_by("taken_at")
        .values_list("taken_at", "score", "quality", "messaging_limit")
    )
    events = list(selectors.events_for_number(number=number)[:50])
    _event_items(events)
    return render(
        request,
        "compliance/number_detail.html",
        {
            "number": number,
            "chart": history_chart(snapshots, start=start, end=end),
            "events": events,
            "restrictions": list(selectors.restrictions_active(account=number.account)),
            "portfolios": [
                row
                for row in portfolio_rows()
                if row["portfolio"].pk == number.account.portfolio_id
            ],
            "account_state": account_state_text(number.account),
            "backoff": number.backoff_reason
            if number.backoff_until and number.backoff_until > end
            else "",
        },
    )


@require_POST
@require_area(Area.NUMBERS, roles=OPERATORS)
def sync_now(request: HttpRequest) -> HttpResponse:
    run = services.sync_request(actor=request.user)
    if request.htmx:
        return render(request, "compliance/partials/sync_status.html", {"sync": run})
    return redirect("home")


@require_area(Area.NUMBERS)
def sync_status(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=run_id)
    if run.state in (SyncState.DONE, SyncState.FAILED) and request.GET.get("was") == "running":
        return HttpResponseClientRefresh()  # show the refreshed numbers once
    return render(request, "compliance/partials/sync_status.html", {"sync": run})


@require_POST
@require_area(Area.NUMBERS, roles=OPERATORS)
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    services.alert_acknowledge(alert=alert, actor=request.user)
    if request.htmx:
        return HttpResponse("")
    return redirect("home")
