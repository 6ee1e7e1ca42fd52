from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import client_create, client_host


class Command(BaseCommand):
    help = "Provision a client: schema, domain <slug>.<PORTAL_DOMAIN>, owner and membership."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", default=None)
        parser.add_argument("--region", default="US", help="Default ISO country for phone numbers.")

    def handle(self, *args, slug, name, owner_email, owner_password, region, **options):
        try:
            client = client_create(
                name=name,
                slug=slug,
                owner_email=owner_email,
                owner_password=owner_password,
                default_region=region,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"Created {client.name} at {client_host(client)} (schema {client.schema_name})"
        )
