"""The backend's table list: Django's answer, read from the schema asked about only."""

import pytest
from django.db import connection
from django.db.backends.postgresql.introspection import DatabaseIntrospection as Stock
from django_tenants.utils import schema_context

from portal.postgresql_backend.introspection import DatabaseIntrospection


def _stock_table_list(schema: str) -> list:
    """Django's own query (pg_table_is_visible over all of pg_class) in django-tenants'
    search-path context, to compare with."""
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        saved = cursor.fetchone()[0]
        cursor.execute(f'SET search_path = "{schema}"')
        try:
            return sorted(Stock.get_table_list(connection.introspection, cursor))
        finally:
            cursor.execute(f"SET search_path = {saved}")


def _table_list(schema: str) -> list:
    with schema_context(schema), connection.cursor() as cursor:
        return sorted(connection.introspection.get_table_list(cursor))


def test_the_backend_uses_the_fast_table_list(db):
    assert isinstance(connection.introspection, DatabaseIntrospection)


@pytest.mark.parametrize("schema", ["public", "tenant_template", "c_acme"])
def test_the_table_list_is_djangos_for_every_kind_of_schema(db, acme, schema):
    with connection.cursor() as cursor:  # every kind Django lists, and a name in two schemas
        cursor.execute(
            f'CREATE VIEW "{schema}".probe_view AS SELECT 1 AS one;'  # noqa: S608
            f'CREATE MATERIALIZED VIEW "{schema}".probe_mv AS SELECT 1 AS one;'
            f'CREATE TABLE "{schema}".probe_parted (k int) PARTITION BY RANGE (k);'
            f'CREATE TABLE "{schema}".probe_part PARTITION OF "{schema}".probe_parted '
            "FOR VALUES FROM (0) TO (10);"
            f"COMMENT ON TABLE \"{schema}\".probe_part IS 'a partition';"
            "CREATE SCHEMA probe_other; CREATE TABLE probe_other.probe_view (id int);"
            "CREATE TABLE probe_other.only_elsewhere (id int)"
        )

    listed = _table_list(schema)

    assert listed == _stock_table_list(schema)
    names = {t.name: (t.type, t.comment) for t in listed}
    assert names["probe_view"] == ("v", None)
    assert names["probe_mv"] == ("v", None)
    assert names["probe_part"] == ("p", "a partition")
    assert "only_elsewhere" not in names
    assert "django_migrations" in names
