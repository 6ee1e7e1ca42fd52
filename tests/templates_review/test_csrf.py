"""Every form post of the template pages (client host and staff queue) needs the CSRF token:
without it nothing changes; with the token the page's own form works."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient
from django_tenants.utils import schema_context

from portal.audit.models import AuditLog
from templates_review import services
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from templates_review.services import Actor
from tests.conftest import host_of
from tests.factories import MessageTemplateFactory


def browser(client, user):
    http = HttpClient(HTTP_HOST=host_of(client), enforce_csrf_checks=True)
    http.force_login(user)
    return http


def make(client, **kwargs):
    with schema_context(client.schema_name):
        return MessageTemplateFactory(**kwargs)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "/templates/new/",
            {
                "name": "x_y",
                "language": "en_US",
                "category": "UTILITY",
                "parameter_format": "positional",
                "body": "Hello there.",
            },
        ),
        ("/templates/lint/", {"body": "Hello"}),
        (
            "/templates/{id}/edit/",
            {
                "name": "x_y",
                "language": "en_US",
                "category": "UTILITY",
                "parameter_format": "positional",
                "body": "Hello there.",
            },
        ),
        ("/templates/{id}/submit/", {}),
        ("/templates/{id}/comments/", {"body": "hi"}),
    ],
)
def test_client_pages_refuse_posts_without_the_token(web, acme, acme_waba, acme_agent, path, data):
    template = make(acme)
    audit_rows = AuditLog.objects.count()

    response = browser(acme, acme_agent).post(path.format(id=template.pk), data)

    assert response.status_code == 403
    assert AuditLog.objects.count() == audit_rows
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.DRAFT
        assert MessageTemplate.objects.count() == 1


@pytest.mark.parametrize("action", ["approve", "request_changes", "reject"])
def test_staff_queue_refuses_decisions_without_the_token(
    acme, acme_waba, acme_agent, staff_reviewer, action
):
    with schema_context(acme.schema_name):
        template = services.template_submit(
            template=MessageTemplateFactory(), actor=Actor(acme_agent, "agent"), client=acme
        )

    response = browser(None, staff_reviewer).post(
        f"/staff/templates/acme/{template.pk}/{action}/", {"reason": "scam"}
    )

    assert response.status_code == 403
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.SUBMITTED


def test_the_pages_own_form_carries_the_token(web, acme, acme_waba, acme_agent):
    template = make(acme)
    http = browser(acme, acme_agent)
    page = http.get(f"/templates/{template.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert 'hx-headers=\'{"X-CSRFToken": "' in page  # htmx posts (live lint) send it too

    response = http.post(f"/templates/{template.pk}/submit/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.SUBMITTED


def test_api_with_a_session_needs_the_token_a_key_does_not(acme, acme_waba, acme_agent):
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    template = make(acme)
    session = APIClient(HTTP_HOST=host_of(acme), enforce_csrf_checks=True)
    session.force_login(acme_agent)
    keyed = APIClient(HTTP_HOST=host_of(acme), enforce_csrf_checks=True)
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(client=acme).raw_key}")

    assert session.post(f"/api/v1/templates/{template.pk}/submit/").status_code == 403
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.DRAFT
    assert keyed.post(f"/api/v1/templates/{template.pk}/submit/").status_code == 200
