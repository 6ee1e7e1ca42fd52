"""Who is acting, and what they may reach: one `Actor` for every caller of a service.

An actor is a client member with a role, an API key with its scopes, BSP staff with a staff role,
or the portal itself (`system`). `actor.may(area, client=...)` answers from the tables in
`tenants.permissions` (STAFF_AREAS, CLIENT_AREAS); nothing else decides which staff role reaches
which area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied

from tenants.choices import StaffRole
from tenants.permissions import (
    API_KEY_ROLE,
    CLIENT_AREAS,
    Area,
    staff_list_manager,
    staff_may,
    staff_role_of,
)

SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts and in which role: a client role, `api_key`, a BSP staff role or `system`.

    `client_id` is the client a member's role or a key belongs to (None for staff and the
    system, who are not bound to one client)."""

    principal: Any  # a User, an API key principal, or None (the system)
    role: str
    label: str = ""
    client_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    # --- building one ---------------------------------------------------------------------

    @classmethod
    def system(cls) -> Actor:
        return cls(principal=None, role=SYSTEM_ROLE, label="portal")

    @classmethod
    def of(cls, who: Any, *, client=None) -> Actor:
        """The actor behind a user or an API key principal; a user's client role is read for
        `client` (one query), staff act in their staff role. Nobody usable: role ''."""
        if isinstance(who, Actor):
            return who
        api_key = getattr(who, "api_key", None)
        if api_key is not None:
            return cls(
                principal=who,
                role=API_KEY_ROLE,
                label=str(who),
                client_id=api_key.client_id,
                scopes=frozenset(api_key.scopes or ()),
            )
        if who is None or not getattr(who, "is_authenticated", False) or not who.is_active:
            return cls(principal=None, role="")
        if who.is_staff:
            return cls.staff(who)
        if client is None:
            return cls(principal=who, role="", label=who.email)
        from tenants.models import Membership

        role = (
            Membership.objects.filter(user=who, client=client)
            .values_list("role", flat=True)
            .first()
        )
        return cls(
            principal=who,
            role=role or "",
            label=who.email,
            client_id=client.pk if role else None,
        )

    @classmethod
    def staff(cls, user) -> Actor:
        return cls(principal=user, role=staff_role_of(user) or "", label=user.email)

    @classmethod
    def from_request(cls, request) -> Actor:
        """The actor of a request: an API key, a member of this host's client by the role the
        access middleware found, or staff by their staff role."""
        from tenants.models import ApiKey

        if isinstance(getattr(request, "auth", None), ApiKey):
            return cls.of(request.user)
        user = getattr(request, "user", None)
        access = getattr(request, "tenant_access", None)
        if access is None:
            if user is not None and getattr(user, "is_staff", False) and user.is_active:
                return cls.staff(user)
            return cls(principal=None, role="")
        if access.is_staff_entry:
            return cls.staff(user)
        return cls(principal=user, role=access.role, label=user.email, client_id=access.client.pk)

    # --- what it may do -------------------------------------------------------------------

    @property
    def user(self):
        return self.principal if getattr(self.principal, "_meta", None) else None

    @property
    def is_staff(self) -> bool:
        return self.role in StaffRole.values

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM_ROLE

    def may(self, area: Area, *, client=None, roles: frozenset | None = None) -> bool:
        """Whether this actor reaches `area`, of `client` when one is named (for staff lists
        across clients, name none). `roles`: the client roles a member needs for this step
        (OPERATORS, MANAGERS); a key's scopes are checked by the API, and staff who reach an
        area of a client act there with the client's full rights (tenants.permissions)."""
        if self.is_system:
            return True
        if self.client_id is not None:  # a member or a key: its own client's areas only
            if area not in CLIENT_AREAS or (client is not None and client.pk != self.client_id):
                return False
            return roles is None or self.role == API_KEY_ROLE or self.role in roles
        user = self.user
        return staff_may(
            self.role if self.is_staff else None,
            area,
            user_id=user.pk if user is not None else None,
            client=client,
        )

    @property
    def list_manager_id(self) -> int | None:
        """The account manager whose clients this staff actor's lists across clients show
        (None: every client)."""
        user = self.user
        return staff_list_manager(self.role, user_id=user.pk if user is not None else None)

    def role_for(self, area: Area, *, client) -> str | None:
        """The role this actor takes in `area` of `client`, or None when it may not reach it
        (the workflows' transition tables then say which steps that role may take)."""
        if not self.role or not self.may(area, client=client):
            return None
        return self.role


def request_may(request, area: Area, *, roles: frozenset | None = None) -> bool:
    """Whether the actor of `request` reaches `area` of the request's client (with one of
    `roles`, for a member): what a page asks before it shows a form or takes a step."""
    return Actor.from_request(request).may(area, client=request.tenant, roles=roles)


def require_area(area: Area, *, roles: frozenset | None = None):
    """View decorator for a client host's pages: the acting member, key or staff member must
    reach `area` of this client (a template reviewer entering a client reads no appeals), and a
    member must hold one of `roles` when given. The area is kept on the view
    (`view.portal_area`), so a test can prove every client page names one."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request_may(request, area, roles=roles):
                raise PermissionDenied("Your role does not reach this part of the portal.")
            return view(request, *args, **kwargs)

        wrapper.portal_area = area
        return wrapper

    return decorator
