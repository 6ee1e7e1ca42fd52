import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from portal.audit.models import AuditLog
from tenants.choices import ClientRole
from tenants.models import Client, Domain, Membership, User
from tenants.services import client_create


def _tables(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
        return {row[0] for row in cursor.fetchall()}


def _applied_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')  # noqa: S608
        return set(cursor.fetchall())


def test_client_create_makes_schema_domain_owner_and_audit_row(db):
    client = client_create(
        name="Umbrella Corp", slug="umbrella", owner_email="Boss@Umbrella.example"
    )

    assert client.schema_name == "c_umbrella"
    assert schema_exists("c_umbrella")
    assert Domain.objects.get(tenant=client).domain == "umbrella.localhost"
    owner = User.objects.get(email="boss@umbrella.example")
    assert Membership.objects.get(client=client, user=owner).role == ClientRole.OWNER
    audit = AuditLog.objects.get(action="client.created", client=client)
    assert audit.after == {"name": "Umbrella Corp", "slug": "umbrella", "owner": owner.email}
    assert connection.schema_name == "public"


def test_cloned_schema_has_the_templates_tables_and_migration_history(db):
    client = client_create(name="Hooli", slug="hooli", owner_email="gavin@hooli.example")

    assert _tables(client.schema_name) == _tables("tenant_template")
    assert _applied_migrations(client.schema_name) == _applied_migrations("tenant_template")
    assert ("migration_probe", "0001_initial") in _applied_migrations(client.schema_name)


def test_existing_user_becomes_owner_of_a_second_client(db, acme_owner):
    client = client_create(name="Acme Two", slug="acme-two", owner_email="OWNER@acme.example")

    assert Membership.objects.get(client=client, user=acme_owner).role == ClientRole.OWNER
    assert User.objects.filter(email__iexact="owner@acme.example").count() == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", "Use 3 to 40 lowercase letters"),
        ("Bad_Slug", "Use 3 to 40 lowercase letters"),
        ("1abc", "Use 3 to 40 lowercase letters"),
        ("admin", "is reserved"),
        ("acme", "already exists"),
    ],
)
def test_invalid_or_taken_slugs_are_refused_and_nothing_is_created(db, slug, message):
    before = Client.objects.count()

    with pytest.raises(ValidationError, match=message):
        client_create(name="X", slug=slug, owner_email="x@example.com")

    assert Client.objects.count() == before


def test_a_failure_midway_leaves_no_half_made_client(db, monkeypatch):
    from tenants import services

    def broken_audit(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(services, "audit_record", broken_audit)

    with pytest.raises(RuntimeError, match="audit down"):
        client_create(name="Half", slug="half-made", owner_email="h@example.com")

    assert not Client.objects.filter(slug="half-made").exists()
    assert not schema_exists("c_half_made")
    assert not User.objects.filter(email="h@example.com").exists()


def test_client_create_refuses_to_run_inside_a_tenant_schema(acme):
    connection.set_tenant(acme)

    with pytest.raises(RuntimeError, match="public schema only"):
        client_create(name="Nested", slug="nested", owner_email="n@example.com")


def test_create_client_command(db):
    out = io.StringIO()

    call_command(
        "create_client",
        "vandelay",
        "--name",
        "Vandelay Industries",
        "--owner-email",
        "art@vandelay.example",
        stdout=out,
    )

    assert "Created Vandelay Industries at vandelay.localhost" in out.getvalue()
    assert Client.objects.get(slug="vandelay").default_region == "US"


def test_create_client_command_reports_bad_input(db):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_client", "acme", "--name", "Again", "--owner-email", "a@a.example")


def test_a_new_migration_reaches_the_template_and_every_client_created_after_it(db):
    """The template is a tenant row, so `migrate` migrates it like any client."""
    call_command("migrate_schemas", "migration_probe", "zero", tenant=True, verbosity=0)
    assert "migration_probe_proberecord" not in _tables("tenant_template")
    assert "migration_probe_proberecord" not in _tables("c_acme")

    # "Deploying" the new migration: the ordinary migrate command.
    call_command("migrate", "migration_probe", verbosity=0, interactive=False)
    assert "migration_probe_proberecord" in _tables("tenant_template")
    assert "migration_probe_proberecord" in _tables("c_acme")

    client = client_create(name="Late Comer", slug="late-comer", owner_email="l@example.com")
    assert "migration_probe_proberecord" in _tables(client.schema_name)
    assert ("migration_probe", "0001_initial") in _applied_migrations(client.schema_name)
    with schema_context(client.schema_name):
        from tests.migration_probe.models import ProbeRecord

        ProbeRecord.objects.create(note="works")
        assert ProbeRecord.objects.count() == 1


def test_a_stale_template_is_caught_up_for_real_not_faked(db):
    """If the template missed a migration, the new client gets it applied, not just recorded."""
    call_command(
        "migrate_schemas", "migration_probe", "zero", schema_name="tenant_template", verbosity=0
    )
    assert "migration_probe_proberecord" not in _tables("tenant_template")

    client = client_create(name="Catch Up", slug="catch-up", owner_email="c@example.com")

    assert "migration_probe_proberecord" in _tables(client.schema_name)
    assert ("migration_probe", "0001_initial") in _applied_migrations(client.schema_name)


def test_deleting_a_user_does_not_reach_into_client_schemas(db, acme):
    """Tenant tables that name a user are not visited by a delete in the public schema."""
    from tests.factories import UserFactory

    user = UserFactory()

    user.delete()

    assert not User.objects.filter(pk=user.pk).exists()


def test_deactivating_a_user_is_audited(db, acme_agent):
    from tenants.services import user_deactivate

    user_deactivate(user=acme_agent)

    acme_agent.refresh_from_db()
    assert not acme_agent.is_active
    assert AuditLog.objects.filter(action="user.deactivated", object_id=str(acme_agent.pk)).exists()
