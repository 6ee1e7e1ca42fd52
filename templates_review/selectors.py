"""Reads of the template review workflow: the client's templates, and
the staff queue (one indexed query on the public work index, whatever the number of clients)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from portal.db import counts_compiled_once
from portal.meta import types as meta
from templates_review.choices import ReviewState, StatusFilter
from templates_review.diff import line_diff, revision_lines
from templates_review.models import MessageTemplate, ReviewComment, TemplateRevision
from tenants.models import WorkKind
from tenants.selectors import QueueCursor, work_queue_query

QUEUE_PAGE_SIZE = 25

_S = ReviewState
_META_PENDING = (meta.TemplateStatus.PENDING, meta.TemplateStatus.UNKNOWN)
STATUS_FILTERS: dict[str, Q] = {
    StatusFilter.DRAFT: Q(review_state=_S.DRAFT),
    StatusFilter.SUBMITTED: Q(review_state=_S.SUBMITTED),
    StatusFilter.CHANGES_REQUESTED: Q(review_state=_S.CHANGES_REQUESTED),
    StatusFilter.REJECTED_BY_BSP: Q(review_state=_S.REJECTED),
    StatusFilter.APPROVED_BY_BSP: Q(review_state=_S.APPROVED),
    StatusFilter.META_PENDING: Q(review_state=_S.SENT_TO_META, meta_status__in=_META_PENDING),
    StatusFilter.META_APPROVED: Q(
        review_state=_S.SENT_TO_META, meta_status=meta.TemplateStatus.APPROVED
    ),
    StatusFilter.META_REJECTED: Q(
        review_state=_S.SENT_TO_META, meta_status=meta.TemplateStatus.REJECTED
    ),
    StatusFilter.META_PAUSED: Q(
        review_state=_S.SENT_TO_META, meta_status=meta.TemplateStatus.PAUSED
    ),
    StatusFilter.META_DISABLED: Q(
        review_state=_S.SENT_TO_META, meta_status=meta.TemplateStatus.DISABLED
    ),
}


TEMPLATE_PAGE_SIZE = 50


def templates_list(
    *, status: str = "", search: str = "", after: tuple[str, str, int] | None = None
) -> QuerySet[MessageTemplate]:
    """The client's templates by name, language and id; `after` is the (name, language, id)
    of the last one shown (keyset paging: a deep page costs what the first does)."""
    qs = MessageTemplate.objects.select_related("account").order_by("name", "language", "id")
    if status in STATUS_FILTERS:
        qs = qs.filter(STATUS_FILTERS[status])
    if search:
        qs = qs.filter(name__icontains=search)
    if after is not None:
        name, language, pk = after
        qs = qs.filter(
            Q(name__gt=name)
            | Q(name=name, language__gt=language)
            | Q(name=name, language=language, pk__gt=pk)
        )
    return qs


def template_list_cursor(raw: str | None) -> tuple[str, str, int] | None:
    """`?after=` is the id of the last template shown; its name and language are read back
    (one lookup by primary key), so the link stays short. A bad or unknown id is the first
    page."""
    if not raw or not raw.isdigit() or len(raw) > 18:
        return None
    row = MessageTemplate.objects.filter(pk=int(raw)).values_list("name", "language").first()
    return None if row is None else (row[0], row[1], int(raw))


def template_status_counts() -> dict:
    """The client's templates counted by status filter, in one query: `statuses` is a list of
    (value, label, count) for the statuses that have templates, `total` counts every one."""
    counts = counts_compiled_once(
        "template_status_counts",
        MessageTemplate.objects.all(),
        total=Count("pk"),
        **{f"s_{value}": Count("pk", filter=q) for value, q in STATUS_FILTERS.items()},
    )
    return {
        "statuses": [
            (value, label, counts[f"s_{value}"])
            for value, label in StatusFilter.choices
            if counts[f"s_{value}"]
        ],
        "total": counts["total"],
    }


def template_get(*, template_id: int) -> MessageTemplate:
    template = (
        MessageTemplate.objects.select_related("account", "approved_revision")
        .filter(pk=template_id)
        .first()
    )
    if template is None:
        raise Http404("No such template.")
    return template


def template_detail(*, template_id: int) -> MessageTemplate:
    """A template with its revisions (newest first) and comments, in three queries."""
    template = (
        MessageTemplate.objects.select_related("account", "approved_revision")
        .prefetch_related(
            Prefetch("revisions", queryset=TemplateRevision.objects.order_by("-number")),
            Prefetch("comments", queryset=ReviewComment.objects.order_by("created_at", "id")),
        )
        .filter(pk=template_id)
        .first()
    )
    if template is None:
        raise Http404("No such template.")
    return template


def latest_revision(template: MessageTemplate) -> TemplateRevision | None:
    revisions = list(template.revisions.all())
    return revisions[0] if revisions else None


def revisions_diff(
    template: MessageTemplate, *, old: int | None = None, new: int | None = None
) -> tuple[TemplateRevision | None, TemplateRevision | None, list[tuple[str, str]]]:
    """The diff between two revisions of the (prefetched) template: by default the latest
    against the one before it."""
    revisions = {r.number: r for r in template.revisions.all()}
    if not revisions:
        return None, None, []
    new_rev = revisions.get(new) if new else revisions[max(revisions)]
    if new_rev is None:
        raise Http404("No such revision.")
    old_rev = revisions.get(old) if old else revisions.get(new_rev.number - 1)
    if old and old_rev is None:
        raise Http404("No such revision.")
    return (
        old_rev,
        new_rev,
        line_diff(revision_lines(old_rev) if old_rev else None, revision_lines(new_rev)),
    )


def review_queue_query(
    *,
    after: QueueCursor | None = None,
    limit: int | None = QUEUE_PAGE_SIZE,
    client_slug: str = "",
    category: str = "",
    managed_by: int | None = None,
):
    """The staff queue's one query: every client's templates awaiting the BSP, longest waiting
    first (the work index's sort_key is when the wait began), for one client or category, of
    `managed_by`'s clients only when given (an account manager's)."""
    return work_queue_query(
        kind=WorkKind.TEMPLATE_REVIEW,
        after=after,
        limit=limit,
        client_slug=client_slug,
        data={"category": category.lower()},
        managed_by=managed_by,
    )


def review_queue(
    *,
    after: QueueCursor | None = None,
    limit: int = QUEUE_PAGE_SIZE,
    client_slug: str = "",
    category: str = "",
    managed_by: int | None = None,
):
    return list(
        review_queue_query(
            after=after,
            limit=limit,
            client_slug=client_slug,
            category=category,
            managed_by=managed_by,
        )
    )


PAUSED_SHOWN = 5  # paused templates listed on the client dashboard


def templates_paused(*, now=None) -> list:
    """Paused templates with the time their pause still runs, soonest first (one query)."""
    from django.utils import timezone

    from portal.meta import types as meta
    from templates_review.choices import ReviewState
    from templates_review.models import MessageTemplate

    now = now or timezone.now()
    paused = list(
        MessageTemplate.objects.filter(
            review_state=ReviewState.SENT_TO_META, meta_status=meta.TemplateStatus.PAUSED
        )
        .only("name", "language", "meta_status", "paused_until")
        .order_by("paused_until", "name")[:PAUSED_SHOWN]
    )
    for template in paused:
        template.time_left = template.pause_time_left(now)
    return paused
