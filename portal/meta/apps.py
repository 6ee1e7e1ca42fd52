from django.apps import AppConfig


class MetaConfig(AppConfig):
    """Public-schema records of the Meta integration: the webhook inbox and credentials.

    The apps that own the state register each webhook field's parser and applier in their own
    `ready()` (`portal.meta.webhooks.contract.register`)."""

    name = "portal.meta"
    label = "meta"
    verbose_name = "Meta integration"
