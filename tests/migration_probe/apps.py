from django.apps import AppConfig


class MigrationProbeConfig(AppConfig):
    """A tenant app that exists only in tests: it stands for "the next migration" when checking
    that migrations reach the clone template and every client provisioned after them."""

    name = "tests.migration_probe"
    label = "migration_probe"
