"""The errors every appeal service raises, and the side of the thread an actor writes on."""

from __future__ import annotations

from typing import Any

from appeals import choices as c
from tenants.models import User


class AppealStateError(Exception):
    """The step does not apply to the appeal in its current state (the API answers 409)."""


class AppealInvalid(ValueError):
    """The input is missing something the step needs; `errors` maps fields to reasons."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


# --- Who is acting: tenants.actors.Actor (`Actor.of(actor, client=client)`) -------------------


def side_of(role: str | None) -> str:
    return c.Side.CLIENT if role in c.CLIENT_ROLES else c.Side.STAFF


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _label(actor: Any) -> str:
    if isinstance(actor, User):
        return actor.get_full_name()
    return str(actor) if actor is not None else "system"
