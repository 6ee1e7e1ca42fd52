from django.db import connection
from django_tenants.utils import get_public_schema_name

from tenants.actors import Actor
from tenants.models import User
from tenants.permissions import CLIENT_AREAS, MANAGERS, Area
from tenants.selectors import clients_for_user


def portal(request):
    """What every page's layout needs: where we are, and the tenant switcher."""
    tenant = getattr(request, "tenant", None)
    is_public = connection.schema_name == get_public_schema_name()
    user = getattr(request, "user", None)
    switcher = []
    # Only a signed-in person has a switcher: an API key's principal is no user (a key asking
    # for HTML must not reach another client's memberships).
    if isinstance(user, User) and user.is_authenticated:
        switcher = [
            m for m in _memberships(request, user) if tenant is None or m.client_id != tenant.pk
        ]
    access = getattr(request, "tenant_access", None)
    # The staff areas this person's role reaches, for the staff navigation (public site only).
    staff_areas = set()
    if is_public and isinstance(user, User) and user.is_authenticated and user.is_staff:
        actor = Actor.staff(user)
        staff_areas = {area.value for area in Area if actor.may(area)}
    # The parts of this client the acting member or staff member reaches, for its navigation.
    client_areas = set()
    can_manage_client = False
    if access is not None and not is_public:
        actor = Actor.from_request(request)
        client_areas = {area.value for area in CLIENT_AREAS if actor.may(area, client=tenant)}
        can_manage_client = actor.may(Area.SETTINGS, client=tenant, roles=MANAGERS)
    return {
        "staff_areas": staff_areas,
        # Only someone with access learns whose portal this is.
        "current_client": tenant if access is not None and not is_public else None,
        "is_public_site": is_public,
        "tenant_access": access,
        "client_areas": client_areas,
        "can_manage_client": can_manage_client,
        "tenant_switcher": switcher,
    }


def _memberships(request, user: User) -> list:
    """This user's `clients_for_user`: as the access middleware read them for this request, or
    read now (the public host; a request the middleware let through without its check)."""
    read = getattr(request, "user_memberships", None)
    if read is not None and read[0] == user.pk:
        return read[1]
    return clients_for_user(user=user)
