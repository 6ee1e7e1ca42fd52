from django.apps import AppConfig


class TemplatesReviewConfig(AppConfig):
    """Tenant app: message templates, the linter and the client-to-staff review workflow."""

    name = "templates_review"
    verbose_name = "Template review"

    def ready(self) -> None:
        from compliance import sync
        from compliance.appliers import messages
        from templates_review import meta_sync, pacing

        meta_sync.register()  # the template webhook fields
        sync.templates_reconciler_register(meta_sync.templates_upsert_from_meta)
        messages.statuses_listener_register(  # statuses end holds
            messages.StatusesListener(sql=pacing.HELD_RELEASE_SQL, then=pacing.held_released)
        )
