from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Tenant app: WhatsApp accounts, numbers, health, consent and the pre-send check."""

    name = "compliance"
    verbose_name = "Compliance and health"

    def ready(self) -> None:
        from compliance import appliers

        appliers.register()  # the account, number and message webhook fields
