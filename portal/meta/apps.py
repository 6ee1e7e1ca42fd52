from django.apps import AppConfig


class MetaConfig(AppConfig):
    """Public-schema records of the Meta integration: the webhook inbox and credentials."""

    name = "portal.meta"
    label = "meta"
    verbose_name = "Meta integration"

    def ready(self) -> None:
        # Apps register their appliers in their own ready(); fields none has taken yet keep
        # the old untyped appliers.
        from portal.meta.webhooks import legacy

        legacy.register_missing()
