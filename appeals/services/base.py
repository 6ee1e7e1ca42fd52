"""Who is acting on an appeal, and the errors every appeal service raises."""

from __future__ import annotations

from typing import Any

from appeals import choices as c
from tenants.models import Client, Membership, User
from tenants.permissions import staff_role_of


class AppealStateError(Exception):
    """The step does not apply to the appeal in its current state (the API answers 409)."""


class AppealInvalid(ValueError):
    """The input is missing something the step needs; `errors` maps fields to reasons."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


# --- Who is acting ------------------------------------------------------------------------


def actor_role(actor: Any, *, client: Client) -> str | None:
    """The role an actor takes on this client's appeals: a staff role for BSP staff, the
    membership role for client users, `api_key` for an API key of this client."""
    api_key = getattr(actor, "api_key", None)
    if api_key is not None:
        return c.API_KEY_ROLE if api_key.client_id == client.pk else None
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    if actor.is_staff:
        return staff_role_of(actor)
    role = (
        Membership.objects.filter(user=actor, client=client).values_list("role", flat=True).first()
    )
    return role


def side_of(role: str | None) -> str:
    return c.Side.CLIENT if role in c.CLIENT_ROLES else c.Side.STAFF


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _label(actor: Any) -> str:
    if isinstance(actor, User):
        return actor.get_full_name()
    return str(actor) if actor is not None else "system"
