"""A tenant task acts only in the schema it was sent for: an id from another client's schema
finds nothing there and touches nothing in the client it came from."""

import pytest
from django.core import mail
from django.db import connection
from django_tenants.utils import schema_context

from compliance.choices import EventKind, EventSource, Severity
from compliance.imports import consent_import_create
from compliance.models import ConsentEvent, ConsentImport
from compliance.services import health_event_record
from compliance.tasks import consent_import
from tests.compliance.test_consent_import import upload


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_an_import_id_sent_to_another_clients_schema_imports_nothing(acme, globex):
    with schema_context(acme.schema_name):
        job = consent_import_create(
            upload=upload("phone,category,action\n+447911123456,marketing,opt_in\n"), actor=None
        )

    connection.set_tenant(globex)
    result = consent_import.apply(args=[job.pk]).get()

    assert result == {"import": job.pk, "state": "missing"}
    assert ConsentEvent.objects.count() == 0
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.get(pk=job.pk).state == "queued"
        assert ConsentEvent.objects.count() == 0


def test_an_alert_email_id_sent_to_another_clients_schema_emails_nobody(acme, globex, acme_waba):
    from integrations.models import OutboundEmail
    from integrations.tasks import email_send

    with schema_context(acme.schema_name):
        health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title="Account restricted",
            key="isolation-alert",
            source=EventSource.WEBHOOK,
            account=acme_waba,
        )
        email = OutboundEmail.objects.get()

    connection.set_tenant(globex)
    sent = email_send.apply(args=[[email.pk]]).get()

    assert sent == 0
    assert mail.outbox == []
    with schema_context(acme.schema_name):
        assert OutboundEmail.objects.get(pk=email.pk).state == "pending"
