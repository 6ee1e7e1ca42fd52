from django.core.management.base import BaseCommand, CommandError

from compliance.services import account_link
from tenants.models import Client


class Command(BaseCommand):
    help = (
        "Link a WhatsApp Business Account (WABA id) to a client, so its webhooks and sync reach it."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("waba_id")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, waba_id, name, **options):
        client = Client.objects.filter(slug=slug, is_template=False).first()
        if client is None:
            raise CommandError(f"No client with the address {slug!r}.")
        try:
            account_link(client=client, waba_id=waba_id, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"WABA {waba_id} linked to {client.name}.")
