"""The demo data `make run` seeds. Idempotent: running it again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from tenants import services
from tenants.choices import StaffRole
from tenants.models import Client, User

DEMO_PASSWORD = "demo-pass"  # noqa: S105 - documented demo credential
DEMO_STAFF_EMAIL = "staff@bsp.example"
DEMO_CLIENTS = [
    ("acme", "Acme Retail", "US"),
    ("globex", "Globex Logistics", "DE"),
    ("initech", "Initech Software", "GB"),
]


@dataclass
class DemoResult:
    lines: list[str] = field(default_factory=list)


def demo_seed() -> DemoResult:
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
    for slug, name, region in DEMO_CLIENTS:
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
        result.lines.append(
            f"{client.name}: http://{services.client_host(client)}:8000/  ({owner})"
        )
    return result
