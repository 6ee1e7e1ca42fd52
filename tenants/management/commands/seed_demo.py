from django.core.management.base import BaseCommand

from tenants.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create the demo BSP staff user and clients (idempotent)."

    def handle(self, *args, **options):
        result = demo_seed()
        for line in result.lines:
            self.stdout.write(line)
        self.stdout.write(f"Password for every demo login: {DEMO_PASSWORD}")
