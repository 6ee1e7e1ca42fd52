from portal.celery import app
from portal.meta import services


@app.task(name="portal.meta.tasks.process_pending_webhooks")
def process_pending_webhooks() -> int:
    """Drain every pending delivery (queued by a coalesced wake-up from the intake)."""
    return services.webhook_process_pending()


@app.task(name="portal.meta.tasks.webhook_sweep")
def webhook_sweep() -> int:
    return len(services.webhook_sweep())
