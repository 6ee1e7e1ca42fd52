"""The demo data `make run` seeds. Idempotent: running it again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django_tenants.utils import schema_context

from compliance.services import account_link, sync_request
from tenants import services
from tenants.choices import StaffRole
from tenants.models import Client, User

DEMO_PASSWORD = "demo-pass"  # noqa: S105 - documented demo credential
DEMO_STAFF_EMAIL = "staff@bsp.example"
# Slug, name, default region and the WABA the Meta simulator's demo scenario gives each client.
DEMO_CLIENTS = [
    ("acme", "Acme Retail", "US", "1110000001"),
    ("globex", "Globex Logistics", "DE", "1120000001"),
    ("initech", "Initech Software", "GB", "1130000001"),
]


@dataclass
class DemoResult:
    lines: list[str] = field(default_factory=list)


def demo_seed(*, sync: bool = True) -> DemoResult:
    """Staff user, three clients with owners and their WABAs; `sync` queues a first sync."""
    result = DemoResult()
    if not User.objects.filter(email=DEMO_STAFF_EMAIL).exists():
        services.user_create(
            email=DEMO_STAFF_EMAIL,
            password=DEMO_PASSWORD,
            full_name="BSP Staff",
            staff_role=StaffRole.SUPERUSER,
        )
    result.lines.append(
        f"Staff console: http://{settings.PORTAL_DOMAIN}:8000/staff/  ({DEMO_STAFF_EMAIL})"
    )
    for slug, name, region, waba_id in DEMO_CLIENTS:
        owner = f"owner@{slug}.example"
        client = Client.objects.filter(slug=slug).first()
        if client is None:
            client = services.client_create(
                name=name,
                slug=slug,
                owner_email=owner,
                owner_password=DEMO_PASSWORD,
                default_region=region,
            )
        account_link(client=client, waba_id=waba_id, name=name)
        if sync:
            # Numbers and templates arrive through the real sync from the simulator.
            with schema_context(client.schema_name):
                sync_request()
        result.lines.append(
            f"{client.name}: http://{services.client_host(client)}:8000/  ({owner})"
        )
    from appeals.demo import appeal_demo_ensure

    result.lines.append(appeal_demo_ensure())
    return result
