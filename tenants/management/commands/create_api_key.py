from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Client
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a client. The key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="Integration")
        parser.add_argument(
            "--scope", action="append", dest="scopes", choices=["read", "write"], default=None
        )

    def handle(self, *args, slug, name, scopes, **options):
        client = Client.objects.filter(slug=slug, is_template=False).first()
        if client is None:
            raise CommandError(f"No client with the address {slug!r}.")
        try:
            key, raw = api_key_create(client=client, name=name, scopes=scopes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"API key {key.prefix} for {client.name}; it is not shown again:")
        self.stdout.write(raw)
