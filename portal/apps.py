from django.apps import AppConfig
from django.core import checks


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # A deploy check: tooling (makemigrations, lint hooks) runs without secrets, and serving
        # with an empty key fails anyway, since Django refuses to sign with one.
        checks.register(check_secret_key, checks.Tags.security, deploy=True)
        checks.register(check_tenant_references, checks.Tags.models)


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


def check_tenant_references(app_configs, **kwargs):
    """A tenant model's foreign key to a public-schema model must be DO_NOTHING.

    Deleting the public row (a user, say) runs Django's collector from the public schema; any
    other on_delete makes it query the tenant table, which the public schema does not have.
    """
    from django.apps import apps
    from django.conf import settings
    from django.db import models

    tenant_only = {app for app in settings.TENANT_APPS if app not in settings.SHARED_APPS}
    errors = []
    for model in apps.get_models():
        if model._meta.app_config.name not in tenant_only:
            continue
        for field in model._meta.get_fields():
            if not (field.many_to_one and field.concrete) or field.remote_field is None:
                continue
            target = field.related_model._meta.app_config.name
            if target in tenant_only:
                continue
            if field.remote_field.on_delete is not models.DO_NOTHING:
                errors.append(
                    checks.Error(
                        f"{model._meta.label}.{field.name} points at public "
                        f"{field.related_model._meta.label} with on_delete other than DO_NOTHING.",
                        hint="Use on_delete=models.DO_NOTHING, db_constraint=False.",
                        obj=field,
                        id="portal.E002",
                    )
                )
    return errors
