from django.core.management.base import BaseCommand

from tenants.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create the demo BSP staff user and clients (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-sync", action="store_true", help="Do not queue a first sync with Meta."
        )

    def handle(self, *args, no_sync=False, **options):
        result = demo_seed(sync=not no_sync)
        for line in result.lines:
            self.stdout.write(line)
        self.stdout.write(f"Password for every demo login: {DEMO_PASSWORD}")
