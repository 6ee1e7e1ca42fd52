"""Copy the template schema into a new client's schema, from pg_catalog.

django-tenants ships a clone function that reads information_schema once per table and once per
column; those views cover every schema in the database, so each clone gets slower as clients are
added (measured: 0.05 s with 2 schemas, 0.2 s with 150, more with wider templates). This copy asks
pg_catalog about the template's objects only, each read through an index (see `_MEMBERS`), so its
cost depends on the template alone.

What it copies: tables (columns, defaults, identity, generated columns, storage, comments), every
constraint and index under its own name, and the rows (the migration history among them). What it
refuses, so that the caller falls back to running migrations: anything else in the schema (views,
functions, triggers, rules, policies, types, standalone sequences, partitioning, inheritance,
defaults that draw on a sequence by name).
"""

from __future__ import annotations

import re

from django.db import connection
from psycopg import sql


class UnsupportedTemplate(Exception):
    """The template holds something this copy would not reproduce faithfully."""


# Every object created in a schema depends on its namespace in pg_depend (relations but indexes
# and TOAST, types, functions), and pg_depend has an index on what is referenced. pg_class,
# pg_type and pg_proc have no index on the namespace alone: filtering them by namespace scans
# every client's catalog rows, and at 800 clients that was 1.6 s a copy (measured), growing
# with each client. From the namespace's dependents, everything else is read by oid.
_MEMBERS = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s),
members AS (
  SELECT d.classid, d.objid FROM pg_depend d, ns
  WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = ns.oid AND d.refobjsubid = 0
),
relations AS (
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
  JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
),
tables AS (SELECT oid, relname FROM relations WHERE relkind = 'r')
"""

_UNSUPPORTED_SQL = (
    _MEMBERS  # noqa: S608 - constants only
    + """
SELECT 'relation ' || r.relname || ' of kind ' || r.relkind::text
  FROM relations r WHERE r.relkind NOT IN ('r', 'S')
UNION ALL
SELECT 'sequence ' || r.relname || ' not owned by an identity column'
  FROM relations r
  WHERE r.relkind = 'S' AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.deptype = 'i')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p
  JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t
  JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
  WHERE t.typtype IN ('c', 'e', 'd', 'r', 'm')
UNION ALL
SELECT 'trigger ' || tg.tgname FROM pg_trigger tg
  WHERE tg.tgrelid IN (SELECT oid FROM tables) AND NOT tg.tgisinternal
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM tables)
UNION ALL
SELECT 'policy ' || pol.polname FROM pg_policy pol WHERE pol.polrelid IN (SELECT oid FROM tables)
UNION ALL
SELECT 'inheritance of ' || i.inhrelid::regclass::text FROM pg_inherits i
  WHERE i.inhrelid IN (SELECT oid FROM tables)
UNION ALL
SELECT 'inheritance of ' || i.inhrelid::regclass::text FROM pg_inherits i
  WHERE i.inhparent IN (SELECT oid FROM tables)
UNION ALL
SELECT 'sequence default on ' || t.relname || '.' || a.attname
  FROM tables t
  JOIN pg_attrdef ad ON ad.adrelid = t.oid
  JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
  WHERE pg_get_expr(ad.adbin, ad.adrelid) LIKE '%%nextval(%%'
"""
)

_TABLES_SQL = (
    _MEMBERS
    + """
SELECT t.relname, obj_description(t.oid, 'pg_class'),
       array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attgenerated = ''),
       array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attidentity <> '')
FROM tables t
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY t.oid, t.relname
ORDER BY t.relname
"""
)

# Key constraints before foreign keys, which need the referenced keys in place.
_CONSTRAINTS_SQL = (
    _MEMBERS
    + """
SELECT t.relname, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN tables t ON t.oid = con.conrelid
WHERE con.contype IN ('p', 'u', 'x', 'c', 'f') AND con.conislocal
ORDER BY con.contype = 'f', t.relname, con.conname
"""
)

# Indexes that do not back a constraint (those come with their constraint). An index lives in
# its table's schema.
_INDEXES_SQL = (
    _MEMBERS  # noqa: S608 - constants only
    + """
SELECT pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN tables t ON t.oid = i.indrelid
WHERE NOT EXISTS (
  SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)
ORDER BY 1
"""
)

_LIKE_OPTIONS = (
    "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE "
    "INCLUDING COMMENTS INCLUDING COMPRESSION"
)


def schema_copy(*, source: str, target: str) -> None:
    """Create schema `target` as a copy of `source`, in the caller's transaction.

    Raises UnsupportedTemplate (before creating anything) if `source` holds objects this copy
    does not handle.
    """
    with connection.cursor() as cursor:
        cursor.execute(_UNSUPPORTED_SQL, {"schema": source})
        unsupported = [row[0] for row in cursor.fetchall()]
        if unsupported:
            raise UnsupportedTemplate(", ".join(unsupported))
        statements = _statements(cursor, source, target)
        raw = connection.connection
        script = ";\n".join(s.as_string(raw) if not isinstance(s, str) else s for s in statements)
        cursor.execute(script)


def _statements(cursor, source: str, target: str) -> list:
    src, dst = sql.Identifier(source), sql.Identifier(target)
    requalify = _requalifier(source, target)
    statements: list = [sql.SQL("CREATE SCHEMA {}").format(dst)]
    cursor.execute(_TABLES_SQL, {"schema": source})
    tables = cursor.fetchall()
    for name, comment, columns, identity_columns in tables:
        table = sql.Identifier(name)
        statements.append(
            sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} " + _LIKE_OPTIONS + ")").format(
                dst, table, src, table
            )
        )
        if comment:
            statements.append(
                sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(dst, table, sql.Literal(comment))
            )
        column_list = sql.SQL(", ").join(sql.Identifier(column) for column in columns)
        statements.append(
            sql.SQL("INSERT INTO {}.{} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}.{}").format(
                dst, table, column_list, column_list, src, table
            )
        )
        for column in identity_columns or []:
            qualified = sql.Identifier(target, name).as_string(connection.connection)
            statements.append(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, {}), max({})) FROM {}.{} "
                    "HAVING max({}) IS NOT NULL"
                ).format(
                    sql.Literal(qualified),
                    sql.Literal(column),
                    sql.Identifier(column),
                    dst,
                    table,
                    sql.Identifier(column),
                )
            )
    cursor.execute(_CONSTRAINTS_SQL, {"schema": source})
    for table_name, constraint_name, definition in cursor.fetchall():
        statements.append(
            sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} ").format(
                dst, sql.Identifier(table_name), sql.Identifier(constraint_name)
            )
            + sql.SQL(requalify(definition))
        )
    cursor.execute(_INDEXES_SQL, {"schema": source})
    statements.extend(sql.SQL(requalify(row[0])) for row in cursor.fetchall())
    return statements


def _requalifier(source: str, target: str):
    """Point references to the template's objects at the new schema.

    pg_catalog prints an object schema-qualified when it is not on the search path, which is
    the case for every template object (the connection is on `public`).
    """
    quoted_target = '"' + target.replace('"', '""') + '"'
    pattern = re.compile(
        r'(?<![\w"$])(?:' + re.escape(source) + r'|"' + re.escape(source) + r'")\.'
    )

    def requalify(text: str) -> str:
        return pattern.sub(quoted_target + ".", text)

    return requalify
