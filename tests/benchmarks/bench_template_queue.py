"""The staff template review queue with 1,000 clients and 100,000 queued templates.

Target (issue 4): the queue page (`GET /staff/templates/` on the public host, signed in as a
template reviewer) answers with p95 ≤ 50 ms, and runs the same number of queries with 1,000
clients as with 1.

- Client 0 is provisioned with `client_create` and gets a WABA; five template variants (clean,
  dangling parameter, promotional wording, buttons, an edit of a template Meta has) are drafted
  and submitted through the real services, so their queue rows (lint findings and diff in
  `WorkItem.data`) come from the real code. Its other 95 templates are bulk-inserted in its
  schema with revisions, and their queue rows copy the variants' data.
- Measured once with that single client (100 queued templates): the query count.
- Clients 1 to 999 are then provisioned with `client_create` (the clone fast path, in spawned
  processes; not timed), each with a WABA and 100 submitted templates bulk-inserted in its own
  schema (executemany), and 100 queue rows in the public work index. Submission times are spread
  over 30 days, so the page's order is the real waiting order across clients.
- Timed: REQUESTS page loads through Django's test client (the whole middleware stack and
  template rendering, production settings), the first page and a page deep in the keyset
  (`?after=`); the query count is compared with the single-client figure, and EXPLAIN shows
  whether the queue query uses the `work_item_queue` index.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

from tests.benchmarks.harness import median, percentile
from tests.benchmarks.procs import BenchFailure

CLIENTS = 1000
TEMPLATES_PER_CLIENT = 100
PROVISIONERS = 2
REQUESTS = 300
TARGET_P95_MS = 50.0
SLUG = "queue-{:04d}"
REVIEWER = "reviewer@queue.bench"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

_BODY = "Hello {{1}}, your order {{2}} has shipped and arrives soon. Thank you."
VARIANTS = [
    [{"type": "BODY", "text": _BODY, "example": {"body_text": [["Ana", "A-1"]]}}],
    [{"type": "BODY", "text": "Your parcel arrives on {{1}}", "example": {"body_text": [["Mon"]]}}],
    [
        {"type": "HEADER", "format": "TEXT", "text": "BIG SALE TODAY"},
        {
            "type": "BODY",
            "text": "Buy now!!! 50% off everything, limited offer for {{1}} only. Shop now.",
            "example": {"body_text": [["you"]]},
        },
    ],
    [
        {"type": "BODY", "text": _BODY, "example": {"body_text": [["Ana", "A-1"]]}},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Track"},
                {"type": "URL", "text": "Open", "url": "https://example.com/o/{{1}}"},
                {"type": "QUICK_REPLY", "text": "Help"},
            ],
        },
    ],
]


def _seed_templates(account, client, index: int, pool: list[dict], start: int) -> None:
    """Bulk-insert submitted templates (with a revision each) in the current schema and their
    queue rows in the public work index."""
    from templates_review.choices import ReviewState
    from templates_review.models import MessageTemplate, TemplateRevision
    from tenants.models import WorkItem, WorkKind

    rng = random.Random(index)
    templates = []
    for n in range(start, TEMPLATES_PER_CLIENT):
        variant = pool[n % len(pool)]
        submitted_at = NOW - timedelta(seconds=rng.randrange(30 * 86400))
        templates.append(
            MessageTemplate(
                account=account,
                name=f"template_{index}_{n}",
                language="en_US",
                category="utility",
                components=variant["components"],
                review_state=ReviewState.SUBMITTED,
                revision_count=1,
                submitted_at=submitted_at,
            )
        )
    MessageTemplate.objects.bulk_create(templates, batch_size=500)
    TemplateRevision.objects.bulk_create(
        [
            TemplateRevision(
                template=t,
                number=1,
                name=t.name,
                language=t.language,
                category=t.category,
                parameter_format="positional",
                components=t.components,
                author_label="bench",
            )
            for t in templates
        ],
        batch_size=500,
    )
    WorkItem.objects.bulk_create(
        [
            WorkItem(
                kind=WorkKind.TEMPLATE_REVIEW,
                client=client,
                object_id=str(t.pk),
                title=t.name,
                subtitle=f"en_US · utility · Client {index}",
                status="submitted",
                band=pool[n % len(pool)]["band"],
                sort_key=int(t.submitted_at.timestamp()),
                data={**pool[n % len(pool)]["data"], "revision": 1},
            )
            for n, t in enumerate(templates, start=start)
        ],
        batch_size=1000,
    )


def _provision_slice(args: tuple[list[int], list[dict]]) -> int:
    """Runs in a spawned process: create clients `indexes` with their templates."""
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from compliance.services import account_link
    from tenants.services import client_create

    indexes, pool = args
    for c in indexes:
        client = client_create(
            name=f"Client {c}", slug=SLUG.format(c), owner_email=f"owner{c}@queue.bench"
        )
        account = account_link(client=client, waba_id=f"5{c:09d}", name=f"Client {c}")
        with schema_context(client.schema_name):
            _seed_templates(account, client, c, pool, start=0)
    from django.db import connections

    connections.close_all()
    return len(indexes)


def _first_client() -> list[dict]:
    """Client 0 through the real services; the queue rows' data as the pool for the rest."""
    from django_tenants.utils import schema_context

    from compliance.services import account_link
    from templates_review import services
    from templates_review.choices import ReviewState
    from templates_review.services import Actor, review
    from tenants.models import WorkItem, WorkKind
    from tenants.services import client_create

    client = client_create(name="Client 0", slug=SLUG.format(0), owner_email="owner0@queue.bench")
    account = account_link(client=client, waba_id="5000000000", name="Client 0")
    author = Actor(principal=None, role="agent", label="bench")
    reviewer = Actor(principal=None, role="template_reviewer", label="bench")
    with schema_context(client.schema_name):
        for n, components in enumerate(VARIANTS):
            template = services.template_create_draft(
                actor=author,
                account=account,
                name=f"variant_{n}",
                language="en_US",
                category="UTILITY",
                components=components,
                client=client,
            )
            services.template_submit(template=template, actor=author, client=client)
        # An edit of a template Meta has: the diff is from the approved revision.
        edited = services.template_create_draft(
            actor=author,
            account=account,
            name="variant_edit",
            language="en_US",
            category="UTILITY",
            components=VARIANTS[0],
            client=client,
        )
        services.template_submit(template=edited, actor=author, client=client)
        # Approved only for its revision to be the diff's base: no send task reaches the broker.
        with mock.patch.object(review, "_send_later", return_value=None):
            services.template_approve(template=edited, actor=reviewer, client=client)
        type(edited).objects.filter(pk=edited.pk).update(
            review_state=ReviewState.SENT_TO_META, meta_id="990000000000001"
        )
        edited.refresh_from_db()
        services.template_edit(
            template=edited,
            actor=author,
            category="UTILITY",
            components=VARIANTS[3],
            client=client,
        )
        services.template_submit(template=edited, actor=author, client=client)
        items = list(WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW, client=client))
        pool = [
            {"components": components, "data": item.data, "band": item.band}
            for item, components in zip(
                sorted(items, key=lambda i: int(i.object_id)),
                [*VARIANTS, VARIANTS[3]],
                strict=True,
            )
        ]
        _seed_templates(account, client, 0, pool, start=len(pool))
    return pool


def _page(http, path: str):
    from django.conf import settings

    return http.get(path, HTTP_HOST=settings.PORTAL_DOMAIN, secure=True)


def _queries(http, path: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = _page(http, path)
    if response.status_code != 200:
        raise BenchFailure(f"{path} answered {response.status_code}")
    queue = sum("tenants_workitem" in q["sql"] for q in captured.captured_queries)
    return len(captured.captured_queries), queue


def _time(http, path: str) -> list[float]:
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = _page(http, path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise BenchFailure(f"{path} answered {response.status_code}")
    return timings


def _collect_static() -> None:
    """The pages link hashed static files (production's manifest storage): build the manifest
    in a temporary STATIC_ROOT, as the deploy's collectstatic does."""
    import tempfile

    from django.conf import settings
    from django.core.management import call_command

    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="bench-static-")
    call_command("collectstatic", interactive=False, verbosity=0)


def _plan(queryset) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def run() -> list[tuple[str, str, str, str]]:
    from django.db import connection, connections
    from django.test import Client as HttpClient

    from templates_review.selectors import review_queue_query
    from tenants.choices import StaffRole
    from tenants.models import WorkItem, WorkKind
    from tenants.services import template_schema_ensure, user_create

    _collect_static()
    template_schema_ensure()
    reviewer = user_create(
        email=REVIEWER, password="bench-pass", staff_role=StaffRole.TEMPLATE_REVIEWER
    )
    http = HttpClient()
    http.force_login(reviewer)
    pool = _first_client()
    _page(http, "/staff/templates/")  # the session's first save
    one_client = _queries(http, "/staff/templates/")

    connections.close_all()
    ctx = multiprocessing.get_context("spawn")
    slices = [(list(range(1 + i, CLIENTS, PROVISIONERS)), pool) for i in range(PROVISIONERS)]
    with ctx.Pool(PROVISIONERS) as pool_of_processes:
        done = sum(pool_of_processes.map(_provision_slice, slices))
    if done != CLIENTS - 1:
        raise BenchFailure(f"provisioned {done} of {CLIENTS - 1} clients")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tenants_workitem")
    queued = WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW).count()
    # Only this benchmark's queue: `make bench` runs every benchmark on one database.
    clients = (
        WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW).values("client").distinct().count()
    )
    if (queued, clients) != (CLIENTS * TEMPLATES_PER_CLIENT, CLIENTS):
        raise BenchFailure(f"{queued} queued templates of {clients} clients")

    many_clients = _queries(http, "/staff/templates/")
    middle = WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW).order_by("sort_key", "id")[
        queued // 2
    ]
    deep = f"/staff/templates/?after={middle.sort_key}:{middle.pk}"
    first_page = _time(http, "/staff/templates/")
    deep_page = _time(http, deep)
    plans = [
        _plan(review_queue_query(after=None)),
        _plan(review_queue_query(after=(middle.sort_key, middle.pk))),
    ]
    uses_index = all("work_item_queue" in plan for plan in plans)

    p95_first, p95_deep = percentile(first_page, 95), percentile(deep_page, 95)
    same = many_clients == one_client
    return [
        (
            "template queue: first page p95 (1,000 clients, 100,000 queued)",
            f"{p95_first:.1f} ms (median {median(first_page):.1f})",
            f"≤ {TARGET_P95_MS:.0f} ms",
            "yes" if p95_first <= TARGET_P95_MS else "NO",
        ),
        (
            "template queue: deep keyset page p95",
            f"{p95_deep:.1f} ms (median {median(deep_page):.1f})",
            f"≤ {TARGET_P95_MS:.0f} ms",
            "yes" if p95_deep <= TARGET_P95_MS else "NO",
        ),
        (
            "template queue: queries, 1 client vs 1,000 (work index queries)",
            f"{one_client[0]} vs {many_clients[0]} ({many_clients[1]})",
            "equal",
            "yes" if same else "NO",
        ),
        (
            "template queue: queue queries (first, deep page) use index work_item_queue",
            "yes" if uses_index else json.dumps([p.splitlines()[:2] for p in plans]),
            "index scan",
            "yes" if uses_index else "NO",
        ),
    ]
