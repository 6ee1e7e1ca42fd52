"""Writing rows in one statement: some fields of many stored rows, or a row once by a unique
field."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault

from portal import fastjson


def json_rows(rows: list) -> str:
    """Rows as one JSON parameter (for `jsonb_to_recordset` or `jsonb_array_elements`).

    A statement with a placeholder per value is parsed by psycopg in Python on every call, and
    `bulk_create` compiles and quotes every value: for a batch's thousands of values both cost
    more than the statement. Dates and times keep their microseconds (Django's JSON encoder
    cuts them to milliseconds)."""
    return fastjson.dumps_compact(rows)


def rows_update(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of these stored rows (of one model), as they are in memory, in one
    statement: UPDATE … FROM (VALUES …) of the primary key and those fields only.

    Django's `bulk_update` builds a CASE expression per field and row (~10 ms of Python for 3
    numbers of 17 fields, ~90 ms for 20 templates), and an INSERT … ON CONFLICT DO UPDATE
    (`bulk_create`) sends and adapts every column of every row, not only the written ones
    (~7 ms for 3 numbers): the fleet sync pays this for every client every few minutes. Here
    each value is one typed placeholder. A row deleted meanwhile stays deleted. A model with
    `auto_now` fields must not use it (nothing stamps them)."""
    objs = list(objs)
    if not objs or not fields:
        return
    model = type(objs[0])
    if any(obj.pk is None for obj in objs):
        raise ValueError("rows_update writes stored rows only.")
    opts = model._meta
    columns = [opts.pk, *(opts.get_field(name) for name in dict.fromkeys(fields))]
    head, row, tail = _update_sql(model, tuple(f.name for f in columns))
    values = [
        f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs for f in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(head + ", ".join([row] * len(objs)) + tail, values)


@functools.cache
def _update_sql(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, str, str]:
    """rows_update's statement around its VALUES rows, and one row's placeholders (made once
    per model and fields: `cast_db_type` and quoting cost more than the values)."""
    opts = model._meta
    columns = [opts.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, pk = quote(opts.db_table), quote(opts.pk.column)
    row = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"
    head = (
        f"UPDATE {table} SET "  # noqa: S608 - names from the model, values as parameters
        + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
        + " FROM (VALUES "
    )
    tail = f") AS v({', '.join(quote(f.column) for f in columns)}) WHERE {table}.{pk} = v.{pk}"
    return head, row, tail


def rows_insert(objs: Sequence[models.Model]) -> None:
    """INSERT these new rows (of one model) in one statement and set their primary keys, as
    `bulk_create` does (fields' `pre_save` included: `auto_now_add` stamps them).

    The rows go as one JSON parameter (`json_rows`, read by `jsonb_to_recordset`): `bulk_create`
    compiles a placeholder per value, and psycopg parses such a statement in Python on every
    call, ~10 ms for an account's 20 new templates, which the first fleet sync pays per client.
    For models whose save() adds nothing and whose JSON fields use the default encoder."""
    objs = list(objs)
    if not objs:
        return
    rows = _rows_of(objs)
    if rows is None:  # a database expression as a default: let Django
        type(objs[0])._default_manager.bulk_create(objs)
        return
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(objs[0])), [json_rows(rows)])
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        _stored(obj, pk)


def rows_insert_once(objs: Sequence[models.Model], *, unique: str) -> list[models.Model]:
    """`insert_once` for many new rows (of one model) in one statement: each is inserted unless
    a row with its `unique` field's value exists already, or comes before it in `objs`. Returns
    the ones inserted, in their order, with their primary keys set. Same limits as
    `rows_insert`, and no database-expression defaults."""
    objs = list(objs)
    if not objs:
        return []
    rows = _rows_of(objs)
    if rows is None:
        raise ValueError("rows_insert_once does not take database-expression defaults.")
    model = type(objs[0])
    column = model._meta.get_field(unique).column
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, unique=unique), [json_rows(rows)])
        ids = dict(cursor.fetchall())  # unique value → primary key, of the rows inserted
    inserted = []
    for obj, row in zip(objs, rows, strict=True):
        pk = ids.pop(row[column], None)  # popped: a later row with the same value was skipped
        if pk is not None:
            _stored(obj, pk)
            inserted.append(obj)
    return inserted


def _rows_of(objs: list[models.Model]) -> list[dict] | None:
    """Each new row's values by column, as `rows_insert` sends them; None when a field's default
    is a database expression (only the database can fill it)."""
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = []
    for obj in objs:
        row = {}
        for f in fields:
            value = f.pre_save(obj, True)
            if isinstance(value, DatabaseDefault):  # `db_default` left to the database
                value = f.db_default
                if hasattr(value, "resolve_expression"):
                    return None
                setattr(obj, f.attname, value)  # as bulk_create's RETURNING would set it
            row[f.column] = value if isinstance(f, models.JSONField) else f.get_prep_value(value)
        rows.append(row)
    return rows


def _stored(obj: models.Model, pk) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


@functools.cache
def _insert_sql(model: type[models.Model], unique: str | None = None) -> str:
    """rows_insert's statement (with `unique`: rows_insert_once's), made once per model."""
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    types = ", ".join(f"{quote(f.column)} {f.cast_db_type(connection)}" for f in fields)
    pk = quote(opts.pk.column)
    head = (
        f"INSERT INTO {quote(opts.db_table)} ({columns})"  # noqa: S608 - names from the model
        f" SELECT {columns} FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({types}))"
        f" WITH ORDINALITY AS v({columns}, _n) ORDER BY _n"
    )
    if unique is None:
        return f"{head} RETURNING {pk}"
    column = quote(opts.get_field(unique).column)
    return f"{head} ON CONFLICT ({column}) DO NOTHING RETURNING {column}, {pk}"


def insert_once(instance, *, unique: str) -> bool:
    """INSERT `instance` unless a row with its `unique` field's value exists: one statement
    (ON CONFLICT DO NOTHING RETURNING), where a savepoint around save() and its IntegrityError
    take three round trips. Sets the primary key and returns True when the row is new.

    For models whose save() adds nothing (no overridden save, no pre/post_save receivers)."""
    model = type(instance)
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({quote(opts.get_field(unique).column)}) DO NOTHING"
        f" RETURNING {quote(opts.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True
