from django.apps import AppConfig


class AppealsConfig(AppConfig):
    """Tenant app: appeal tickets, evidence bundles and recovery plans."""

    name = "appeals"
    verbose_name = "Appeals"
