from django.apps import AppConfig


class WebhookProbeConfig(AppConfig):
    """A webhook field that exists only in tests (`probe_effect`): its applier writes one line
    per call to the file named by TEST_WEBHOOK_EFFECT_LOG, so tests count real applications across
    processes, and it can be told to sleep or fail."""

    name = "tests.webhook_probe"
    label = "webhook_probe"

    def ready(self) -> None:
        from tests.webhook_probe import handlers

        handlers.register_probe()
