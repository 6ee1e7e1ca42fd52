"""Every client page and every staff page under gunicorn, signed in, with 1,000 clients.

Target (issues 14 and 15): p95 ≤ 50 ms for every client page (the dashboard with its live
figures included) and every staff page (Fleet health included). Anchor, measured in the same
run and the same way: `/bench/signed-in/`, a page that needs a signed-in session and runs no
query of its own (what the middleware, the session and the tenant access check cost on each
host), and `/bench/bare/`, the same without a session (the physical floor).

- 1,000 clients. One "big" client (`pages-big`) gets realistic data through the real paths:
  its WABA is synced from the Meta simulator (NUMBERS numbers, TEMPLATES templates, some paused,
  rejected and pending, numbers of every quality), HISTORY_DAYS of health history (4 snapshots
  a day a number), EVENTS health events (alerts for the warnings and critical ones, outbound
  webhook deliveries for its endpoint) through `health_events_record_many`, a consent import of
  CONTACTS people plus opt-outs this week through the consent services, drafts and submitted
  templates through the template services, APPEALS appeals with threads through the appeal
  services, members, API keys and webhook endpoints through theirs. The other 999 are
  provisioned with `client_create` (the clone fast path, PROVISIONERS spawned processes) and a
  linked WABA; their rows in the public staff work index (numbers, templates waiting for review,
  appeals) copy the big client's real rows' shape, so every staff list has 1,000 clients' rows.
  Meta webhook deliveries reach the staff webhooks page through the real intake (signed POSTs).
  Then the public tables and the big client's are ANALYZEd, as autovacuum would have on a
  production server (this machine's runs without autovacuum: no statistics otherwise).
- gunicorn serves `portal.wsgi:application` with `deploy/gunicorn.conf.py` (WORKERS x THREADS
  gthread), production settings (DEBUG off, the static manifest built by `collectstatic`), plain
  HTTP on loopback; `tests.benchmarks.bench_pages_settings` only adds the two anchor views.
- Sessions: the big client's owner on its host, a superuser on the public host (`force_login`,
  Django's session store; the cookie is sent with each request, as a browser would).
- Pages come from the URL confs: every GET route of the client and public URLconfs is either
  measured (PAGES) or named in NOT_PAGES with why (actions that only take POST, downloads, the
  API, sign-in); a route in neither fails the run, so a new page cannot be missed.
- Load: LOAD_CLIENTS spawned processes (`loadgen`), closed loop, keep-alive renewed every 20
  requests. Per page a warm-up, then REQUESTS requests; every answer must be a 200. The anchors
  are measured between the pages (before, in the middle, after), and their latencies pooled.
- The queries each page runs are counted once in-process (Django's test client, the same
  settings) and shown with its row, so a slow page says where to look.
- Cleanup on success and failure: gunicorn stopped, the run's queue deleted, temp files removed.
"""

from __future__ import annotations

import base64
import csv
import http.client
import json
import multiprocessing
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tests.benchmarks.harness import percentile
from tests.benchmarks.loadgen import LoadGenerator, Phase, webhook_body
from tests.benchmarks.procs import (
    PYTHON,
    BenchFailure,
    Children,
    free_port,
    gunicorn_ready,
    wait_until,
)

CLIENTS = 1000
PROVISIONERS = 4
BIG_SLUG = "pages-big"
SLUG = "pages-{:04d}"
NUMBERS = 8
TEMPLATES = 120
HISTORY_DAYS = 90
EVENTS = 300
CONTACTS = 20_000
OPT_OUTS = 60
DRAFTS = 20
APPEALS = 30
INDEX_NUMBERS = 3  # work index rows of each other client
INDEX_TEMPLATES = 5
INDEX_APPEALS = 2
WORKERS = 2
THREADS = 4
LOAD_CLIENTS = 4
REQUESTS = 120  # per page, after its warm-up
WARMUP = 16
TARGET_P95_MS = 50.0
OWNER = "owner@pages-big.bench"
STAFF = "superuser@pages.bench"

# GET routes that are not pages, by URL name, with why (see `_check_coverage`).
NOT_PAGES = {
    "login": "sign-in form (anonymous)",
    "logout": "POST only",
    "switch": "redirect to another host",
    "favicon": "redirect to a static file",
    "handoff": "single-use sign-in redirect",
    "invitation-accept": "single-use invitation link",
    "api-schema": "API (JSON)",
    "api-docs": "API documentation (static shell)",
    "meta-webhook": "Meta's webhook endpoint",
    "sync-now": "POST only",
    "alert-acknowledge": "POST only",
    "consent-record": "POST only (the form is on the contact pages)",
    "consent-export": "CSV download",
    "consent-import-apply": "POST only",
    "consent-import-errors": "CSV download",
    "appeal-answers": "POST only",
    "appeal-message": "POST only",
    "appeal-export": "CSV download",
    "appeal-evidence": "evidence bundle download",
    "appeal-transition": "POST only",
    "appeal-file": "file download",
    "appeal-recovery-toggle": "POST only",
    "template-lint": "htmx POST (the editor's live lint)",
    "template-submit": "POST only",
    "template-comment": "POST only",
    "template-unpause": "POST only",
    "webhook-delivery-replay": "POST only",
    "webhook-endpoint-action": "POST only",
    "console-api-key-rotate": "POST only",
    "console-api-key-revoke": "POST only",
    "console-member-role": "POST only",
    "console-member-remove": "POST only",
    "console-invitation-revoke": "POST only",
    "console-activity-export": "CSV download",
    "staff-webhook-retry": "POST only",
    "staff-webhook-dismiss": "POST only",
    "staff-appeal-transition": "POST only",
    "staff-appeal-message": "POST only",
    "staff-appeal-assign": "POST only",
    "staff-appeal-evidence": "evidence bundle download",
    "staff-appeal-file": "file download",
    "staff-template-action": "POST only",
    "bench-bare": "the anchor",
    "bench-bare-select": "another benchmark's anchor",
    "bench-signed-in": "the anchor",
}


@dataclass
class Page:
    name: str  # the URL name
    label: str
    side: str  # "client" or "staff"
    path: str


def _provision_slice(indexes: list[int]) -> int:
    """Runs in a spawned process: create clients `indexes`, each with a linked WABA."""
    import django

    django.setup()
    from compliance.services import account_link
    from portal.meta.simulator.scenario import waba_id_for
    from tenants.services import client_create

    for c in indexes:
        client = client_create(
            name=f"Pages client {c:04d}", slug=SLUG.format(c), owner_email=f"owner{c}@pages.bench"
        )
        account_link(client=client, waba_id=waba_id_for(c), name=f"Pages WABA {c}")
    from django.db import connections

    connections.close_all()
    return len(indexes)


def _provision_fleet(queue: str) -> float:
    from django.db import connections

    connections.close_all()
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    others = list(range(1, CLIENTS))
    slices = [others[i::PROVISIONERS] for i in range(PROVISIONERS)]
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue  # for the spawned processes
    with ctx.Pool(PROVISIONERS) as pool:
        done = sum(pool.map(_provision_slice, slices))
    if done != len(others):
        raise BenchFailure(f"provisioned {done} of {len(others)} clients")
    return time.perf_counter() - started


def _scenario() -> dict:
    """One WABA for the big client (index 0): numbers of every quality, templates in every
    Meta state."""
    from portal.meta.simulator.scenario import generate

    scenario = generate(1, NUMBERS, TEMPLATES, seed=14)
    waba = scenario["wabas"][0]
    qualities = ["GREEN", "GREEN", "YELLOW", "RED", "GREEN", "YELLOW", "GREEN", "GREEN"]
    for number, quality in zip(waba["phone_numbers"], qualities, strict=False):
        number["quality_rating"] = quality
    waba["phone_numbers"][3]["status"] = "FLAGGED"
    waba["phone_numbers"][4]["messaging_limit"] = "TIER_250"
    for t, template in enumerate(waba["message_templates"]):
        if t < 4:
            template["status"] = "PAUSED"
        elif t < 10:
            template["status"] = "REJECTED"
            template["rejected_reason"] = "PROMOTIONAL"
        elif t < 14:
            template["status"] = "PENDING"
    return scenario


def _sync_big(client, sim_url: str) -> None:
    from django_tenants.utils import schema_context

    from compliance.sync import client_sync
    from portal.meta.client import GraphClient

    with (
        schema_context(client.schema_name),
        GraphClient(token="bench-token", base_url=sim_url) as graph,
    ):
        result = client_sync(graph=graph)
    if result.errors or result.numbers != NUMBERS or result.templates != TEMPLATES:
        raise BenchFailure(f"the big client's sync: {result}")


def _seed_history(rng: random.Random) -> None:
    """Health snapshots (4 a day a number) and events with their alerts and deliveries."""
    from django.utils import timezone

    from compliance import choices as c
    from compliance.models import HealthEvent, HealthSnapshot, PhoneNumber
    from compliance.services import health_events_record_many

    now = timezone.now()
    numbers = list(PhoneNumber.objects.all())
    snapshots = []
    for number in numbers:
        score = 90
        for step in range(HISTORY_DAYS * 4):
            score = max(10, min(100, score + rng.randint(-6, 6)))
            band = "healthy" if score >= 80 else "watch" if score >= 60 else "at_risk"
            snapshots.append(
                HealthSnapshot(
                    number=number,
                    taken_at=now - timedelta(hours=6 * (HISTORY_DAYS * 4 - step)),
                    status=number.status,
                    quality=rng.choice(["high", "high", "medium", "low"]),
                    messaging_limit=number.messaging_limit,
                    can_send=number.can_send,
                    score=score,
                    band=band,
                )
            )
    HealthSnapshot.objects.bulk_create(snapshots, batch_size=2000)
    kinds = [
        (c.EventKind.QUALITY_DROP, c.Severity.WARNING),
        (c.EventKind.QUALITY_RISE, c.Severity.INFO),
        (c.EventKind.LIMIT_DROP, c.Severity.WARNING),
        (c.EventKind.FLAGGED, c.Severity.CRITICAL),
    ]
    events = []
    for n in range(EVENTS):
        number = numbers[n % len(numbers)]
        kind, severity = kinds[n % len(kinds)]
        events.append(
            HealthEvent(
                kind=kind,
                severity=severity,
                title=f"{kind.label}: {number.display_phone_number}",
                detail="Seen by the bench's history.",
                source=c.EventSource.WEBHOOK,
                occurred_at=now - timedelta(minutes=rng.randrange(HISTORY_DAYS * 24 * 60)),
                account=number.account,
                number=number,
                dedupe_key=f"bench-pages-{n}",
            )
        )
    health_events_record_many(events=events)


def _write_contacts_csv(path: Path) -> None:
    categories = ["marketing", "utility", "marketing", "authentication"]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["phone", "category", "action", "source", "wording"])
        for n in range(CONTACTS):
            out.writerow(
                [
                    f"+1415{2_000_000 + n:07d}",
                    categories[n % len(categories)],
                    "opt_out" if n % 17 == 0 else "opt_in",
                    "web_form",
                    "Yes, send me order updates on WhatsApp.",
                ]
            )


def _seed_consent(tmp: Path, owner) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from compliance.consent import Evidence, consent_record_opt_out
    from compliance.imports import consent_import_create, consent_import_run

    path = tmp / "contacts.csv"
    _write_contacts_csv(path)
    upload = SimpleUploadedFile("contacts.csv", path.read_bytes(), content_type="text/csv")
    job = consent_import_create(upload=upload, actor=owner)
    job = consent_import_run(import_id=job.pk)
    if job is None or job.rows_valid < CONTACTS * 0.99:
        raise BenchFailure(f"the consent import: {job and job.rows_valid} valid rows")
    now = timezone.now()
    for n in range(OPT_OUTS):
        consent_record_opt_out(
            phone=f"+1415{2_000_000 + n * 7 + 1:07d}",
            category="marketing",
            source="whatsapp_keyword",
            evidence=Evidence(channel="whatsapp", data={"text": "STOP"}),
            actor=owner,
            occurred_at=now - timedelta(hours=n * 2),
        )


def _seed_templates(client, owner) -> None:
    from compliance.models import WhatsAppAccount
    from templates_review.services import template_create_draft, template_submit
    from tenants.actors import Actor

    actor = Actor.of(owner, client=client)
    account = WhatsAppAccount.objects.get()
    body = "Hello {{1}}, your order {{2}} has shipped and arrives soon. Thank you."
    for n in range(DRAFTS):
        template = template_create_draft(
            actor=actor,
            account=account,
            name=f"order_shipped_{n:02d}",
            language="en_US",
            category="utility",
            components=[
                {"type": "BODY", "text": body, "example": {"body_text": [["Ana", "A-1"]]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
            ],
            client=client,
        )
        if n % 2 == 0:
            template_submit(template=template, actor=actor, client=client)


def _seed_appeals(client, owner, staff) -> None:
    from django.utils import timezone

    from appeals import services
    from compliance.models import WhatsAppAccount

    account = WhatsAppAccount.objects.get()
    for n in range(APPEALS):
        ticket = services.appeal_create(
            actor=owner,
            client=client,
            title=f"Messaging block {n}",
            subject_kind="waba",
            account=account,
            block_type="messaging_block",
            blocked_at=timezone.now() - timedelta(days=1, hours=n),
            api_uses="Order confirmations and delivery updates after a purchase.",
            consent_process="A checkbox at checkout naming us and WhatsApp order updates.",
            improvement_plan="Removed the promotional footer from utility templates.",
        )
        if n % 3 == 0:
            continue  # a draft
        services.appeal_submit(ticket=ticket, actor=owner, client=client)
        for m in range(6):
            author = owner if m % 2 == 0 else staff
            services.appeal_message_post(
                ticket=ticket,
                actor=author,
                body=f"Message {m} about the block: what we changed and when.",
                internal=author is staff and m == 5,
                client=client,
            )


def _seed_settings(client, owner) -> None:
    from django.test import override_settings

    from integrations.services import endpoint_create
    from tenants.choices import ClientRole
    from tenants.services import api_key_create, membership_grant, user_create

    for n in range(6):
        user = user_create(email=f"member{n}@pages-big.bench", password=None)
        role = [ClientRole.ADMIN, ClientRole.AGENT, ClientRole.VIEWER][n % 3]
        membership_grant(client=client, user=user, role=role, actor=owner)
    for n in range(4):
        api_key_create(client=client, name=f"Shop integration {n}", actor=owner)
    # Loopback receivers: nothing consumes the run's queue, so nothing is ever sent.
    with override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True):
        for n in range(2):
            endpoint_create(
                url=f"http://127.0.0.1:9/hooks/{n}",
                actor=owner,
                description=f"Order system {n}",
                event_types=[],
            )


def _seed_big(tmp: Path, sim_url: str):
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from compliance.services import account_link, sync_request
    from portal.meta.simulator.scenario import waba_id_for
    from tenants.choices import StaffRole
    from tenants.services import client_create, user_create

    rng = random.Random(14)
    staff = user_create(email=STAFF, password=None, staff_role=StaffRole.SUPERUSER)
    client = client_create(name="Pages Big Retail", slug=BIG_SLUG, owner_email=OWNER)
    owner = get_user_model().objects.get(email=OWNER)
    account_link(client=client, waba_id=waba_id_for(0), name="Pages Big Retail")
    _sync_big(client, sim_url)
    with schema_context(client.schema_name):
        _seed_settings(client, owner)  # endpoints first: events then queue their deliveries
        _seed_history(rng)
        _seed_consent(tmp, owner)
        _seed_templates(client, owner)
        _seed_appeals(client, owner, staff)
        sync_request(actor=owner)
    return client, owner, staff


def _seed_work_index() -> dict[str, int]:
    """The other clients' rows in the staff work index, shaped like the big client's."""
    from tenants.models import Client, WorkItem, WorkKind

    big = Client.objects.get(slug=BIG_SLUG)
    shapes = {
        kind: list(WorkItem.objects.filter(kind=kind, client=big).order_by("id"))
        for kind in (WorkKind.NUMBER_HEALTH, WorkKind.TEMPLATE_REVIEW, WorkKind.APPEAL)
    }
    counts = {WorkKind.NUMBER_HEALTH: INDEX_NUMBERS, WorkKind.TEMPLATE_REVIEW: INDEX_TEMPLATES}
    counts[WorkKind.APPEAL] = INDEX_APPEALS
    if not all(shapes.values()):
        raise BenchFailure(
            f"the big client has no rows of some kind: { {k: len(v) for k, v in shapes.items()} }"
        )
    items = []
    for client in Client.objects.filter(slug__startswith="pages-").exclude(slug=BIG_SLUG):
        for kind, shape in shapes.items():
            for n in range(counts[kind]):
                row = shape[(client.pk + n) % len(shape)]
                items.append(
                    WorkItem(
                        kind=kind,
                        client=client,
                        object_id=f"{n + 1}",
                        title=row.title,
                        subtitle=f"{client.name}",
                        status=row.status,
                        band=row.band,
                        sort_key=row.sort_key + (client.pk % 50),
                        data=row.data,
                    )
                )
    WorkItem.objects.bulk_create(items, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tenants_workitem")
    return {str(kind): WorkItem.objects.filter(kind=kind).count() for kind in shapes}


def _statistics(client) -> None:
    """ANALYZE the public tables and the big client's, as autovacuum would have soon after the
    seeding on a production server: a server run with autovacuum off (this machine's is) keeps
    no statistics of tables bulk-filled since, and plans every page's queries blind (the access
    check's membership read took 2.3 ms instead of 0.08 ms without them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)",
            [["public", client.schema_name]],
        )
        for schema, table in cursor.fetchall():
            cursor.execute(f'ANALYZE "{schema}"."{table}"')


def _meta_deliveries(port: int, app_secret: str, run_id: str) -> None:
    """Signed Meta webhook deliveries through the real intake, for the staff webhooks pages."""
    from django.conf import settings

    from portal.meta.signatures import HEADER, sign

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for n in range(40):
        body = webhook_body(run_id, "pages", 0, n)
        headers = {
            "Host": settings.PORTAL_DOMAIN,
            "Content-Type": "application/json",
            HEADER: sign(body, app_secret),
        }
        conn.request("POST", "/webhooks/meta", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise BenchFailure(f"webhook intake answered {response.status}")
    conn.close()


def _pages(client) -> list[Page]:
    """Every page, with ids of the big client's real rows."""
    from django_tenants.utils import schema_context

    from appeals.models import AppealTicket
    from compliance.models import ConsentImport, Contact, PhoneNumber, SyncRun
    from integrations.models import WebhookDelivery, WebhookEndpoint
    from portal.meta.models import WebhookDelivery as MetaDelivery
    from templates_review.models import MessageTemplate

    with schema_context(client.schema_name):
        number = PhoneNumber.objects.order_by("id").first()
        template = MessageTemplate.objects.filter(review_state="draft").order_by("id").first()
        synced = MessageTemplate.objects.filter(meta_id__gt="").order_by("id").first()
        contact = Contact.objects.order_by("id")[100]
        job = ConsentImport.objects.order_by("id").first()
        submitted = AppealTicket.objects.exclude(status="draft").order_by("id").first()
        endpoint = WebhookEndpoint.objects.order_by("id").first()
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").first()
        run = SyncRun.objects.order_by("-id").first()
    meta_delivery = MetaDelivery.objects.order_by("id").first()
    if None in (number, template, synced, job, submitted, endpoint, delivery, run, meta_delivery):
        raise BenchFailure("the seed lacks a row a page needs")
    c, s = "client", "staff"
    return [
        Page("home", "dashboard (live figures)", c, "/"),
        Page("number-detail", "number detail", c, f"/numbers/{number.pk}/"),
        Page("sync-status", "sync status (htmx poll)", c, f"/sync/{run.pk}/"),
        Page("template-list", "templates", c, "/templates/"),
        Page("template-new", "template editor (new)", c, "/templates/new/"),
        Page("template-detail", "template detail (synced)", c, f"/templates/{synced.pk}/"),
        Page("template-edit", "template editor (draft)", c, f"/templates/{template.pk}/edit/"),
        Page("consent-contacts", "contacts", c, "/contacts/"),
        Page("consent-contact", "contact detail", c, f"/contacts/{contact.phone}/"),
        Page("consent-imports", "consent imports", c, "/consent/imports/"),
        Page("consent-import", "consent import detail", c, f"/consent/imports/{job.pk}/"),
        Page("consent-policy", "messaging policy", c, "/consent/policy/"),
        Page("appeal-list", "appeals", c, "/appeals/"),
        Page("appeal-open", "new appeal", c, "/appeals/new/"),
        Page("appeal-detail", "appeal detail", c, f"/appeals/{submitted.pk}/"),
        Page("webhook-endpoints", "webhook endpoints", c, "/integrations/webhooks/"),
        Page("webhook-endpoint", "webhook endpoint", c, f"/integrations/webhooks/{endpoint.pk}/"),
        Page(
            "webhook-delivery",
            "webhook delivery",
            c,
            f"/integrations/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/",
        ),
        Page("console-api-keys", "settings: API keys", c, "/settings/api-keys/"),
        Page("console-members", "settings: members", c, "/settings/members/"),
        Page("console-notifications", "settings: notifications", c, "/settings/notifications/"),
        Page("console-activity", "settings: activity", c, "/settings/activity/"),
        Page("home", "workspaces (public home)", s, "/"),
        Page("staff-console", "staff console (clients)", s, "/staff/"),
        Page("staff-fleet", "fleet health", s, "/staff/fleet/"),
        Page("staff-fleet", "fleet health, searched", s, "/staff/fleet/?q=555&sort=client"),
        Page("staff-client-create", "new client", s, "/staff/clients/new/"),
        Page("staff-link-waba", "link a WABA", s, f"/staff/clients/{BIG_SLUG}/link-waba/"),
        Page("staff-template-queue", "template review queue", s, "/staff/templates/"),
        Page("staff-appeals", "appeals inbox", s, "/staff/appeals/"),
        Page(
            "staff-appeal-detail",
            "staff appeal detail",
            s,
            f"/staff/appeals/{BIG_SLUG}/{submitted.pk}/",
        ),
        Page("staff-webhooks", "Meta webhooks", s, "/staff/webhooks/"),
        Page(
            "staff-webhook-delivery",
            "Meta webhook delivery",
            s,
            f"/staff/webhooks/deliveries/{meta_delivery.pk}/",
        ),
    ]


def _route_names(urlconf: str) -> set[str]:
    from django.urls import URLPattern, URLResolver, get_resolver

    names: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                route = prefix + str(pattern.pattern)
                if route.startswith(("admin/", "api/")):
                    continue  # Django's admin; the REST API (JSON)
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(pattern.name)

    walk(get_resolver(urlconf).url_patterns, "")
    return names


def _check_coverage(pages: list[Page]) -> None:
    from django.conf import settings

    measured = {p.name for p in pages}
    routes = _route_names(settings.ROOT_URLCONF) | _route_names(settings.PUBLIC_SCHEMA_URLCONF)
    missed = routes - measured - set(NOT_PAGES)
    if missed:
        raise BenchFailure(f"routes neither measured nor in NOT_PAGES: {sorted(missed)}")


def _sessions(client, owner, staff) -> dict[str, str]:
    """A session cookie for each side, as `force_login` makes it."""
    from django.conf import settings
    from django.test import Client as HttpClient

    from tenants.services import client_host

    cookies = {}
    for side, user, host in (
        ("client", owner, client_host(client)),
        ("staff", staff, settings.PORTAL_DOMAIN),
    ):
        http = HttpClient(HTTP_HOST=host)
        http.force_login(user)
        cookies[side] = (
            f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    return cookies


def _query_counts(pages: list[Page], client, cookies: dict[str, str]) -> dict[str, int]:
    """Queries each page runs, counted in-process with the same settings and sessions."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from tenants.services import client_host

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    counts = {}
    with override_settings(
        STORAGES=storages,
        ROOT_URLCONF="tests.benchmarks.bench_urls_tenant",
        PUBLIC_SCHEMA_URLCONF="tests.benchmarks.bench_urls",
    ):
        for page in pages:
            host = client_host(client) if page.side == "client" else settings.PORTAL_DOMAIN
            http = HttpClient(HTTP_HOST=host, HTTP_COOKIE=cookies[page.side])
            http.get(page.path, secure=True)  # the first request may write the session
            with CaptureQueriesContext(connection) as captured:
                response = http.get(page.path, secure=True)
            if response.status_code != 200:
                raise BenchFailure(f"{page.label} ({page.path}) answered {response.status_code}")
            counts[f"{page.side}:{page.path}"] = len(captured)
    return counts


def _gunicorn_env(*, port: int, queue: str, app_secret: str, static: Path, media: Path) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.benchmarks.bench_pages_settings",
        DEBUG="false",
        SECRET_KEY=os.environ["SECRET_KEY"],
        META_APP_SECRET=app_secret,
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        STATIC_ROOT=str(static),
        MEDIA_ROOT=str(media),
        PORT=str(port),
        WEB_CONCURRENCY=str(WORKERS),
        GUNICORN_THREADS=str(THREADS),
        GUNICORN_MAX_REQUESTS="0",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    return env


def _collectstatic(env: dict, log: Path) -> None:
    with log.open("wb") as out:
        subprocess.run(  # our own fixed command
            [PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


def _measure(port: int, pages: list[Page], hosts: dict[str, str], cookies: dict[str, str]):
    """(per page latencies, anchor latencies by name); non-200 answers fail the run."""
    per_client = REQUESTS // LOAD_CLIENTS
    warm = max(1, WARMUP // LOAD_CLIENTS)
    anchors = {
        "client signed-in": ("client", "/bench/signed-in/"),
        "staff signed-in": ("staff", "/bench/signed-in/"),
        "bare (no session)": ("staff", "/bench/bare/"),
    }

    def phase(name: str, side: str, path: str, count: int) -> Phase:
        return Phase(name, "get", count, path, hosts[side], headers={"Cookie": cookies[side]})

    plan: list[tuple[str, Phase]] = []
    checkpoints = {0, len(pages) // 2, len(pages)}
    for index in range(len(pages) + 1):
        if index in checkpoints:
            for name, (side, path) in anchors.items():
                plan.append(("warm", phase(f"warm {name}", side, path, warm)))
                plan.append((f"anchor:{name}", phase(name, side, path, per_client)))
        if index < len(pages):
            page = pages[index]
            plan.append(("warm", phase(f"warm {page.label}", page.side, page.path, warm)))
            plan.append((f"page:{index}", phase(page.label, page.side, page.path, per_client)))
    latencies: dict[str, list[float]] = {}
    with LoadGenerator(port=port, clients=LOAD_CLIENTS, phases=[p for _, p in plan]) as load:
        for key, spec in plan:
            result = load.run_phase()
            if result.accepted != len(result.latencies):
                raise BenchFailure(f"{spec.name} ({spec.path}): answers {result.statuses}")
            if key != "warm":
                latencies.setdefault(key, []).extend(result.latencies)
    return latencies


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run() -> list[tuple[str, ...]]:
    from django.conf import settings
    from django.test import override_settings

    from portal.celery import app
    from tenants.services import client_host, template_schema_ensure
    from tests.broker import queue_delete

    run_id = uuid.uuid4().hex[:8]
    queue = f"bench-pages-{run_id}"
    app_secret = secrets.token_hex(16)
    credentials_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    rows: list[tuple[str, ...]] = []
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        cleanup.callback(queue_delete, queue)  # runs last: after gunicorn has stopped
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        media = tmp / "media"
        media.mkdir()
        # Whatever the seeding queues (e-mails, webhook sends, the sync) waits on the run's
        # queue, which nothing consumes and which is deleted at the end.
        app.conf.task_default_queue = queue
        cleanup.enter_context(
            override_settings(
                MEDIA_ROOT=str(media),
                META_CREDENTIALS_KEY=credentials_key,
                CELERY_TASK_DEFAULT_QUEUE=queue,
                EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            )
        )

        scenario = tmp / "scenario.json"
        scenario.write_text(json.dumps(_scenario()))
        ready = tmp / "sim.url"
        children.start(
            "simulator",
            [
                PYTHON, "-m", "portal.meta.simulator", "--scenario", str(scenario),
                "--port", "0", "--ready-file", str(ready), "--latency-ms", "0",
            ],
            dict(os.environ),
        )  # fmt: skip
        template_schema_ensure()
        started = time.perf_counter()

        def sim_ready() -> bool:
            children.check_alive()
            return ready.exists() and ready.read_text().strip().startswith("http")

        wait_until("the simulator", sim_ready, 120, every=0.2)
        client, owner, staff = _seed_big(tmp, ready.read_text().strip())
        big_s = time.perf_counter() - started
        provision_s = _provision_fleet(queue)
        index_counts = _seed_work_index()
        print(f"pages: seeded in {big_s:.0f} s + {provision_s:.0f} s", file=sys.stderr)

        port = free_port()
        static = tmp / "static"
        env = _gunicorn_env(
            port=port, queue=queue, app_secret=app_secret, static=static, media=media
        )
        _collectstatic(env, tmp / "collectstatic.log")
        children.start(
            "gunicorn",
            [
                PYTHON, "-m", "gunicorn",
                "--config", "deploy/gunicorn.conf.py",
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(WORKERS),
                "--threads", str(THREADS),
                "portal.wsgi:application",
            ],
            env,
        )  # fmt: skip
        wait_until("gunicorn to answer /readyz", lambda: gunicorn_ready(port, children), 60)
        _meta_deliveries(port, app_secret, run_id)
        pages = _pages(client)
        _check_coverage(pages)
        cookies = _sessions(client, owner, staff)
        _statistics(client)
        queries = _query_counts(pages, client, cookies)
        hosts = {"client": client_host(client), "staff": settings.PORTAL_DOMAIN}
        load_before = _loadavg()
        try:
            latencies = _measure(port, pages, hosts, cookies)
        except BenchFailure as exc:
            raise BenchFailure(f"{exc}\n{children.log('gunicorn')}") from None
        load_after = _loadavg()

    def ms(values: list[float], pct: float) -> float:
        return percentile(values, pct) * 1000

    anchor_rows = {
        key.split(":", 1)[1]: values
        for key, values in latencies.items()
        if key.startswith("anchor:")
    }
    signed_in = {
        "client": anchor_rows["client signed-in"],
        "staff": anchor_rows["staff signed-in"],
    }
    bare = anchor_rows["bare (no session)"]
    config = f"{WORKERS}x{THREADS} gthread, {LOAD_CLIENTS} clients"
    for name, values in anchor_rows.items():
        rows.append(
            (
                f"pages anchor: {name} p95 / p50 ({len(values)} req, {config})",
                f"{ms(values, 95):.1f} / {ms(values, 50):.1f} ms",
                "—",
                "",
            )
        )
    slow = 0
    for index, page in enumerate(pages):
        values = latencies[f"page:{index}"]
        p95 = ms(values, 95)
        ok = p95 <= TARGET_P95_MS
        slow += not ok
        anchor = signed_in[page.side]
        rows.append(
            (
                f"pages {page.side}: {page.label} p95 / p50 "
                f"({queries[f'{page.side}:{page.path}']} queries)",
                f"{p95:.1f} / {ms(values, 50):.1f} ms",
                f"p95 ≤ {TARGET_P95_MS:.0f} ms",
                "yes" if ok else "NO",
                f"{page.side} signed-in page p95 {ms(anchor, 95):.1f} ms, "
                f"bare {ms(bare, 95):.1f} ms",
            )
        )
    rows += [
        (
            "pages: pages at target",
            f"{len(pages) - slow} of {len(pages)}",
            "all",
            "yes" if not slow else "NO",
        ),
        (
            "pages: load average before / after the timed phases",
            f"{load_before} / {load_after}",
            "—",
            "",
        ),
        (
            f"pages: seeding {CLIENTS} clients (big client {big_s:.0f} s), work index rows",
            f"{big_s + provision_s:.0f} s",
            "—",
            ", ".join(f"{k} {v}" for k, v in index_counts.items()),
        ),
    ]
    return rows
