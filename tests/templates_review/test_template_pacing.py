"""Template pacing: pacing pauses in words, held counts, the unpause through the Graph client
against the simulator (happy path, Meta's refusal, a quality pause), the page action and the API
action with their roles and tenants, and the utility pacing window."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import HealthEvent
from portal.meta import types as meta
from templates_review.choices import PauseKind
from templates_review.models import MessageTemplate, MetaTemplateHistory
from templates_review.pacing import (
    UnpauseRefused,
    pause_kind_for,
    template_held_set,
    template_unpause,
    utility_pacing_until,
)
from templates_review.services import Actor
from tests.factories import MessageTemplateFactory

SPRING_SALE = "3110000002"  # acme's marketing template in the demo scenario


def paced(sim, **fields):
    """Acme's spring_sale paused by pacing at Meta, and as the status applier records it."""
    sim.engine.apply({"type": "template_pacing", "template_id": SPRING_SALE})
    fields = {
        "meta_status": "paused",
        "pause_kind": "pacing",
        "pause_title": "rate_limiting_pause",
        **fields,
    }
    return MessageTemplateFactory(
        name="spring_sale",
        category="marketing",
        meta_id=SPRING_SALE,
        review_state="sent_to_meta",
        **fields,
    )


def owner(user):
    return Actor(principal=user, role="owner", label=user.email)


def test_pause_kinds_and_their_words():
    assert pause_kind_for("RATE_LIMITING_PAUSE") == PauseKind.PACING
    assert pause_kind_for(meta.PauseTitle.FIRST_PAUSE) == PauseKind.QUALITY
    assert pause_kind_for(None) == PauseKind.QUALITY
    template = MessageTemplate(meta_status="paused", pause_kind="pacing")
    assert template.needs_unpause
    assert "until someone unpauses it" in template.pause_text
    quality = MessageTemplate(meta_status="paused", pause_kind="quality")
    assert not quality.needs_unpause
    assert quality.pause_text.endswith("the pause ends by itself.")


def test_unpause_happy_path_against_the_simulator(in_acme, sim, graph, acme_owner):
    template = paced(sim)
    assert sim.engine.templates[SPRING_SALE]["status"] == "PAUSED"

    unpaused = template_unpause(template=template, actor=owner(acme_owner), graph=graph)

    assert sim.engine.templates[SPRING_SALE]["status"] == "APPROVED"
    assert (unpaused.meta_status, unpaused.unpause_error) == ("approved", "")
    assert unpaused.unpause_requested_at is not None
    assert (
        MetaTemplateHistory.objects.filter(template=unpaused, meta_status="approved").count() == 1
    )
    assert HealthEvent.objects.get(kind="template_unpaused").title == (
        "Template spring_sale unpaused (after a pacing pause)"
    )


def test_meta_s_refusal_in_plain_words_changes_nothing_else(in_acme, sim, graph, acme_owner):
    template = paced(sim)
    sim.engine.templates[SPRING_SALE]["status"] = "APPROVED"  # unpaused in WhatsApp Manager

    with pytest.raises(UnpauseRefused) as refused:
        template_unpause(template=template, actor=owner(acme_owner), graph=graph)

    assert str(refused.value) == (
        "Meta refused to unpause the template: The template cannot be changed in its current "
        "state (for example while in review, or because an approved template may be edited "
        "only once per 24 hours and 10 times per 30 days)."
    )
    stored = MessageTemplate.objects.get(pk=template.pk)
    assert (stored.meta_status, stored.unpause_error) == ("paused", str(refused.value))


def test_a_quality_pause_is_not_sent_to_meta(in_acme, sim, graph, acme_owner):
    template = paced(sim, pause_kind="quality", paused_until=timezone.now() + timedelta(hours=2))
    calls = sim.engine.calls
    with pytest.raises(UnpauseRefused, match="quality pause: it ends by itself at"):
        template_unpause(template=template, actor=owner(acme_owner), graph=graph)
    assert sim.engine.calls == calls


def test_agents_and_api_keys_may_not_unpause(in_acme, sim, graph, acme_agent):
    template = paced(sim)
    for role in ("agent", "viewer", "api_key"):
        with pytest.raises(PermissionDenied):
            template_unpause(
                template=template, actor=Actor(principal=acme_agent, role=role), graph=graph
            )
    assert sim.engine.templates[SPRING_SALE]["status"] == "PAUSED"


def test_held_counts_are_set_not_added(in_acme):
    template = MessageTemplateFactory(name="paced_one", meta_status="approved")
    now = timezone.now()
    template_held_set(template=template, held=12, at=now)
    template_held_set(template=template, held=12, at=now)
    stored = MessageTemplate.objects.get(pk=template.pk)
    assert (stored.held_count, stored.held_since) == (12, now)
    assert HealthEvent.objects.filter(kind="template_held").count() == 1
    template_held_set(template=template, held=0, at=now)
    assert MessageTemplate.objects.get(pk=template.pk).held_count == 0


def test_utility_pacing_window(in_acme):
    now = timezone.now()
    template = MessageTemplateFactory(name="ship_note", category="utility", meta_status="approved")
    account = template.account
    assert utility_pacing_until(account=account, now=now) is None
    MetaTemplateHistory.objects.create(
        template=template,
        occurred_at=now - timedelta(days=2),
        meta_status="paused",
        dedupe_key="p1",
    )
    assert utility_pacing_until(account=account, now=now) == now + timedelta(days=5)


@pytest.fixture
def acme_paced(acme, acme_waba, meta_at_sim):
    with schema_context(acme.schema_name):
        return paced(meta_at_sim)


def test_the_page_action_for_owners(web, acme, acme_owner, acme_paced, meta_at_sim):
    page = f"/templates/{acme_paced.pk}/"
    http = web(acme, acme_owner)
    content = http.get(page).content.decode()
    assert "Pacing pause" in content
    assert "Unpause at Meta" in content

    response = http.post(f"/templates/{acme_paced.pk}/unpause/")

    assert response.status_code == 302
    assert meta_at_sim.engine.templates[SPRING_SALE]["status"] == "APPROVED"
    assert "Unpause at Meta" not in http.get(page).content.decode()


def test_the_page_action_is_refused_to_agents_and_other_clients(
    web, acme, globex, acme_agent, globex_owner, acme_paced, meta_at_sim
):
    agent = web(acme, acme_agent)
    assert "Unpause at Meta" not in agent.get(f"/templates/{acme_paced.pk}/").content.decode()
    assert agent.post(f"/templates/{acme_paced.pk}/unpause/").status_code == 403
    # globex's owner: not on acme's host, and acme's id means nothing on globex's
    assert web(acme, globex_owner).post(f"/templates/{acme_paced.pk}/unpause/").status_code in (
        302,
        403,
        404,
    )
    assert web(globex, globex_owner).post(f"/templates/{acme_paced.pk}/unpause/").status_code == 404
    assert meta_at_sim.engine.templates[SPRING_SALE]["status"] == "PAUSED"
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=acme_paced.pk).meta_status == "paused"


def test_the_api_action(api, acme, globex, acme_admin, globex_owner, acme_paced, meta_at_sim):
    from tenants.services import api_key_create

    url = f"/api/v1/templates/{acme_paced.pk}/unpause/"
    _, key = api_key_create(client=acme, name="ci", scopes=["read", "write"])
    assert api(acme, key=key).post(url).status_code == 403
    assert api(globex, globex_owner).post(url).status_code == 404

    response = api(acme, acme_admin).post(url)

    assert response.status_code == 200
    assert response.json()["meta_status"] == "approved"
    again = api(acme, acme_admin).post(url)
    assert again.status_code == 409
    assert again.json()["detail"] == "The template is not paused."
