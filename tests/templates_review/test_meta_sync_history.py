"""The sync repairs what missed webhooks would have told: a status, quality or category change
it finds is kept in the template's history (and raises the same health event) once."""

from __future__ import annotations

from django.utils import timezone

from compliance.choices import EventKind
from compliance.models import HealthEvent
from portal.meta import types as meta
from templates_review.choices import ReviewState
from templates_review.meta_sync import templates_upsert_from_meta
from tests.factories import MessageTemplateFactory


def info(**changes):
    raw = {
        "id": "5550001",
        "name": "order_update_sync",
        "language": "en_US",
        "category": "MARKETING",
        "status": "APPROVED",
        "quality_score": {"score": "RED"},
    }
    fields = {
        "id": "5550001",
        "name": "order_update_sync",
        "language": "en_US",
        "category": meta.TemplateCategory.MARKETING,
        "status": meta.TemplateStatus.APPROVED,
        "quality": meta.Quality.LOW,
        "raw": raw,
    }
    return meta.TemplateInfo(**{**fields, **changes})


def test_sync_keeps_quality_and_category_changes_in_the_history_once(in_acme, acme_waba):
    template = MessageTemplateFactory(
        name="order_update_sync",
        review_state=ReviewState.SENT_TO_META,
        meta_id="5550001",
        meta_status="approved",
        quality="high",
        category="utility",
    )

    for _ in range(2):  # the second sync sees nothing new
        templates_upsert_from_meta(account=acme_waba, infos=[info()], confirmed_at=timezone.now())

    template.refresh_from_db()
    assert (template.quality, template.category) == ("low", "marketing")
    assert sorted((h.quality, h.category) for h in template.history.all()) == [
        ("", "marketing"),
        ("low", ""),
    ]
    kinds = sorted(HealthEvent.objects.values_list("kind", flat=True))
    assert kinds == [EventKind.TEMPLATE_CATEGORY, EventKind.TEMPLATE_QUALITY]


def test_a_rejection_the_sync_reads_with_reason_none_stores_no_reason(in_acme, acme_waba):
    template = MessageTemplateFactory(
        name="order_update_sync",
        review_state=ReviewState.SENT_TO_META,
        meta_id="5550001",
        meta_status="pending",
    )

    templates_upsert_from_meta(
        account=acme_waba,
        infos=[info(status=meta.TemplateStatus.REJECTED, rejected_reason="NONE")],
        confirmed_at=timezone.now(),
    )

    template.refresh_from_db()
    assert (template.meta_status, template.rejection_reason) == ("rejected", "")
    assert template.rejection_text == ""
