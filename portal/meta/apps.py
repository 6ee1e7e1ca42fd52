from django.apps import AppConfig


class MetaConfig(AppConfig):
    """Public-schema records of the Meta integration: the webhook inbox and credentials."""

    name = "portal.meta"
    label = "meta"
    verbose_name = "Meta integration"
