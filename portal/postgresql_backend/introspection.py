"""django-tenants' introspection, with a table list that reads only the schema it asks about.

Django lists tables with `pg_table_is_visible()` over the whole of pg_class. With a schema per
client that is every client's relations (about 180 each): `migrate_schemas` asks for the table
list in every schema it migrates (the migration recorder's `has_table`), so a release
migration cost O(clients) per schema, O(clients²) in all. This list starts from the search
path's namespaces and their dependents in pg_depend (indexed), and keeps Django's visibility
rule for the few rows it reads.
"""

from __future__ import annotations

from django.db.backends.postgresql.introspection import TableInfo
from django_tenants.postgresql_backend.introspection import (
    DatabaseSchemaIntrospection,
    DatabaseSchemaIntrospectionSearchPathContext,
)

TABLE_LIST_SQL = """
SELECT c.relname,
       CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END,
       obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_depend d
  ON d.refclassid = 'pg_catalog.pg_namespace'::regclass AND d.refobjid = n.oid
 AND d.refobjsubid = 0 AND d.classid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_class c ON c.oid = d.objid
WHERE n.nspname = ANY (pg_catalog.current_schemas(false))
  AND n.nspname NOT IN ('pg_catalog', 'pg_toast')
  AND c.relkind IN ('f', 'm', 'p', 'r', 'v')
  AND pg_catalog.pg_table_is_visible(c.oid)
"""


class DatabaseIntrospection(DatabaseSchemaIntrospection):
    def get_table_list(self, cursor):
        """Tables and views of the current schema, as Django's `get_table_list` returns them."""
        context = DatabaseSchemaIntrospectionSearchPathContext
        with context(cursor=cursor, connection=self.connection):
            cursor.execute(TABLE_LIST_SQL)
            return [
                TableInfo(*row) for row in cursor.fetchall() if row[0] not in self.ignored_tables
            ]
