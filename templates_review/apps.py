from django.apps import AppConfig


class TemplatesReviewConfig(AppConfig):
    """Tenant app: message templates, the linter and the client-to-staff review workflow."""

    name = "templates_review"
    verbose_name = "Template review"
