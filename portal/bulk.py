"""Writing some fields of many stored rows in one statement."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models


def rows_update(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of these stored rows (of one model), as they are in memory, in one
    statement: INSERT … ON CONFLICT (id) DO UPDATE of those fields, every row being stored.

    Django's `bulk_update` builds a CASE expression per field and row: ~10 ms of Python for 3
    numbers of 17 fields and ~90 ms for 20 templates, which the fleet sync would pay for every
    client every few minutes; this costs a fraction of a millisecond. A model with `auto_now`
    or `auto_now_add` fields must not use it (an INSERT stamps them on the objects)."""
    objs = list(objs)
    if not objs or not fields:
        return
    model = type(objs[0])
    if any(obj.pk is None for obj in objs):
        raise ValueError("rows_update writes stored rows only.")
    model._default_manager.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=[model._meta.pk.name],
        update_fields=list(dict.fromkeys(fields)),
    )
