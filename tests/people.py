"""The named people and clients every test can use (built once per test run).

Two clients, `acme` and `globex`, each with one person per role, plus BSP staff per staff role
and an outsider with no membership, so almost every test can also check that one party cannot
see another's data.
"""

from __future__ import annotations

from tenants import services
from tenants.choices import ClientRole, StaffRole
from tenants.models import Client, User

PASSWORD = "test-pass"

CLIENTS = {"acme": "Acme Retail", "globex": "Globex Logistics"}

MEMBERS = {
    "acme_owner": ("owner@acme.example", "acme", ClientRole.OWNER),
    "acme_admin": ("admin@acme.example", "acme", ClientRole.ADMIN),
    "acme_agent": ("agent@acme.example", "acme", ClientRole.AGENT),
    "acme_viewer": ("viewer@acme.example", "acme", ClientRole.VIEWER),
    "globex_owner": ("owner@globex.example", "globex", ClientRole.OWNER),
    "globex_agent": ("agent@globex.example", "globex", ClientRole.AGENT),
}

STAFF = {
    "staff_manager": ("manager@bsp.example", StaffRole.ACCOUNT_MANAGER),
    "staff_reviewer": ("reviewer@bsp.example", StaffRole.TEMPLATE_REVIEWER),
    "staff_appeals": ("appeals@bsp.example", StaffRole.APPEALS_AGENT),
    "staff_super": ("super@bsp.example", StaffRole.SUPERUSER),
}

OUTSIDER = "outsider@example.org"

EMAILS = {
    **{name: email for name, (email, _, _) in MEMBERS.items()},
    **{name: email for name, (email, _) in STAFF.items()},
    "outsider": OUTSIDER,
}


def build_world() -> None:
    """Create the clients and people if missing (idempotent, so a reused database works)."""
    owners = dict.fromkeys(CLIENTS)
    for email, slug, role in MEMBERS.values():
        if role == ClientRole.OWNER:
            owners[slug] = email
    clients = {}
    for slug, name in CLIENTS.items():
        client = Client.objects.filter(slug=slug).first() or services.client_create(
            name=name, slug=slug, owner_email=owners[slug], owner_password=PASSWORD
        )
        clients[slug] = client
    for email, slug, role in MEMBERS.values():
        user = _user(email)
        services.membership_grant(client=clients[slug], user=user, role=role)
    for email, staff_role in STAFF.values():
        _user(email, staff_role=staff_role)
    _user(OUTSIDER)


def _user(email: str, staff_role: str = "") -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = services.user_create(email=email, password=PASSWORD, staff_role=staff_role)
    return user


def make_account_manager(user: User, *clients: Client) -> None:
    """Make `user` the account manager of `clients` (account managers reach their own clients
    only); inside a test's transaction, so it is undone after the test."""
    Client.objects.filter(pk__in=[c.pk for c in clients]).update(account_manager=user)
    for client in clients:
        client.account_manager_id = user.pk
