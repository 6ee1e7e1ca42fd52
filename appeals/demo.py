"""The open appeal of the demo data (`make run`): Initech's, submitted and waiting for staff."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from appeals import services
from appeals.models import AppealTicket
from compliance.models import WhatsAppAccount
from tenants.models import Client

DEMO_APPEAL_CLIENT = "initech"


def appeal_demo_ensure() -> str:
    """Open and submit one appeal for the demo client once; returns a line for the summary."""
    client = Client.objects.filter(slug=DEMO_APPEAL_CLIENT).first()
    if client is None:
        return "Appeals: no demo client."
    owner = client.memberships.select_related("user").order_by("id").first()
    with schema_context(client.schema_name):
        account = WhatsAppAccount.objects.order_by("id").first()
        if account is None or owner is None:
            return "Appeals: the demo client has no WABA yet."
        if not AppealTicket.objects.exists():
            ticket = services.appeal_create(
                actor=owner.user,
                client=client,
                title="Marketing templates blocked for 3 days",
                subject_kind="waba",
                account=account,
                block_type="template_block",
                violation_type="spam",
                blocked_at=timezone.now() - timedelta(hours=6),
                block_ends_at=timezone.now() + timedelta(days=3) - timedelta(hours=6),
                api_uses="Release notes to customers who asked for them, and licence reminders.",
                consent_process="A checkbox in the customer portal: “Send me Initech release "
                "notes on WhatsApp”, unticked by default; STOP replies opt out at once.",
                improvement_plan="Release notes now go at most weekly; lapsed customers are "
                "removed after 12 months without a login.",
            )
            services.appeal_submit(ticket=ticket, actor=owner.user, client=client)
    return f"Appeals: an open appeal for {client.name} is in the staff inbox."
