from django.apps import AppConfig
from django.core import checks


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        checks.register(check_secret_key, checks.Tags.security, deploy=False)


def check_secret_key(app_configs, **kwargs):
    """Refuse to run with an empty SECRET_KEY (settings allow it only so tooling can import)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        empty = not settings.SECRET_KEY
    except ImproperlyConfigured:  # Django itself refuses to hand out an empty key
        empty = True
    if empty:
        return [
            checks.Error(
                "SECRET_KEY is empty.",
                hint="Set the SECRET_KEY environment variable (see deploy/env.example).",
                id="portal.E001",
            )
        ]
    return []
