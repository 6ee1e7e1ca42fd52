"""The template copy reproduces the template exactly, or refuses and migrations run instead."""

import logging

import pytest
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_context

from tenants.cloning import UnsupportedTemplate, schema_copy
from tenants.services import client_create
from tests.migration_probe.models import ProbeParent, ProbeRecord

TEMPLATE = "tenant_template"


def _rows(query: str, schema: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, {"schema": schema})
        return [
            tuple(str(v).replace(f"{schema}.", "<schema>.") if v is not None else None for v in row)
            for row in cursor.fetchall()
        ]


def signature(schema: str) -> dict[str, list[tuple]]:
    """Everything about a schema that a clone must reproduce, with its name masked."""
    return {
        "columns": _rows(
            """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                      col_description(c.oid, a.attnum)
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND a.attnum > 0
                 AND NOT a.attisdropped ORDER BY 1, a.attnum""",
            schema,
        ),
        "constraints": _rows(
            """SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %(schema)s ORDER BY 1, 2""",
            schema,
        ),
        "indexes": _rows(
            """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s
               ORDER BY 1""",
            schema,
        ),
        "table_comments": _rows(
            """SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %(schema)s AND c.relkind = 'r' ORDER BY 1""",
            schema,
        ),
        "migrations": _migration_rows(schema),
    }


def _migration_rows(schema: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY 1, 2')  # noqa: S608
        return cursor.fetchall()


def test_copy_reproduces_columns_constraints_indexes_comments_and_history(db):
    client = client_create(name="Copy", slug="copy-check", owner_email="c@example.com")

    copied, template = signature(client.schema_name), signature(TEMPLATE)

    assert copied == template
    kinds = {row[2] for row in copied["constraints"] if row[0] == "migration_probe_proberecord"}
    assert kinds == {"p", "u", "c", "f"}
    assert tuple(name for name, _ in copied["indexes"] if name == "probe_paid_note_idx") == (
        "probe_paid_note_idx",
    )


def test_copied_rows_and_identity_sequences_keep_working(db, acme_owner):
    client = client_create(name="Rows", slug="rows-check", owner_email="r@example.com")

    with schema_context(client.schema_name):
        assert list(ProbeParent.objects.values_list("name", flat=True)) == ["seeded"]
        parent = ProbeParent.objects.create(name="new")  # the sequence continues after the copy
        record = ProbeRecord.objects.create(note="n", parent=parent, owner=acme_owner, amount=2)
        record.refresh_from_db()
        assert record.doubled == 4
        assert record.created is not None
    with schema_context(TEMPLATE):
        assert ProbeParent.objects.count() == 1  # the template is untouched


def test_foreign_keys_of_the_copy_point_at_its_own_tables(db):
    client = client_create(name="Fk", slug="fk-check", owner_email="f@example.com")

    with (
        schema_context(client.schema_name),
        pytest.raises(IntegrityError, match="violates foreign key constraint"),
    ):
        _insert_orphan_record()


def _insert_orphan_record() -> None:
    with transaction.atomic():
        ProbeRecord.objects.create(note="orphan", parent_id=999_999)
        connection.check_constraints()  # the constraints are deferred: check them now


def test_unsupported_template_objects_are_refused_before_anything_is_created(db):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE VIEW {TEMPLATE}.probe_view AS SELECT 1 AS one")

    with pytest.raises(UnsupportedTemplate, match="relation probe_view of kind v"):
        schema_copy(source=TEMPLATE, target="c_never")

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'c_never'")
        assert cursor.fetchone() is None


T = TEMPLATE
UNSUPPORTED = [
    (f"CREATE VIEW {T}.probe_view AS SELECT 1 AS one", "relation probe_view of kind v"),
    (f"CREATE MATERIALIZED VIEW {T}.probe_mv AS SELECT 1 AS one", "relation probe_mv of kind m"),
    (f"CREATE TABLE {T}.probe_parted (k int) PARTITION BY RANGE (k)", "probe_parted of kind p"),
    (f"CREATE TYPE {T}.probe_pair AS (a int, b int)", "probe_pair"),
    (f"CREATE TYPE {T}.probe_mood AS ENUM ('ok')", "type probe_mood"),
    (f"CREATE DOMAIN {T}.probe_positive AS int CHECK (VALUE > 0)", "type probe_positive"),
    (f"CREATE TYPE {T}.probe_span AS RANGE (subtype = int4)", "type probe_span"),
    (f"CREATE SEQUENCE {T}.probe_seq", "sequence probe_seq not owned by an identity column"),
    (f"CREATE FUNCTION {T}.probe_fn() RETURNS int AS 'SELECT 1' LANGUAGE sql", "function probe_fn"),
    (
        f"CREATE FUNCTION {T}.probe_tg() RETURNS trigger AS 'BEGIN RETURN NEW; END' "
        f"LANGUAGE plpgsql; CREATE TRIGGER probe_trigger BEFORE INSERT ON "
        f"{T}.migration_probe_probeparent FOR EACH ROW EXECUTE FUNCTION public.version()",
        "trigger probe_trigger",
    ),
    (
        f"CREATE RULE probe_rule AS ON DELETE TO {T}.migration_probe_probeparent "
        "DO INSTEAD NOTHING",
        "rule probe_rule",
    ),
    (
        f"CREATE POLICY probe_policy ON {T}.migration_probe_probeparent USING (true)",
        "policy probe_policy",
    ),
    (
        f"CREATE TABLE {T}.probe_child () INHERITS ({T}.migration_probe_probeparent)",
        "inheritance of",
    ),
    (
        f"CREATE SEQUENCE public.probe_counter; ALTER TABLE {T}.migration_probe_probeparent "
        "ADD COLUMN counted bigint DEFAULT nextval('public.probe_counter')",
        "sequence default on migration_probe_probeparent.counted",
    ),
]


@pytest.mark.parametrize(("ddl", "reason"), UNSUPPORTED, ids=[r for _, r in UNSUPPORTED])
def test_every_kind_of_object_the_copy_cannot_reproduce_is_refused(db, ddl, reason):
    """The template's objects are found through their namespace's dependents (pg_depend):
    each kind the copy does not handle must still be seen there."""
    ddl = ddl.replace("EXECUTE FUNCTION public.version()", f"EXECUTE FUNCTION {T}.probe_tg()")
    with connection.cursor() as cursor:
        cursor.execute(ddl)

    with pytest.raises(UnsupportedTemplate, match=reason):
        schema_copy(source=TEMPLATE, target="c_never")


def test_client_create_falls_back_to_migrations_when_the_template_cannot_be_copied(db, caplog):
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE FUNCTION {TEMPLATE}.probe_fn() RETURNS int AS 'SELECT 1' LANGUAGE sql"
        )

    with caplog.at_level(logging.WARNING, logger="tenants.models"):
        client = client_create(name="Fallback", slug="fallback", owner_email="fb@example.com")

    assert "cannot be copied (function probe_fn)" in caplog.text
    copied = signature(client.schema_name)
    assert copied["columns"] == signature(TEMPLATE)["columns"]
    with schema_context(client.schema_name):
        assert list(ProbeParent.objects.values_list("name", flat=True)) == ["seeded"]
