from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Clients and access"

    def ready(self) -> None:
        from tenants.api import schema  # noqa: F401 - registers the OpenAPI extension
