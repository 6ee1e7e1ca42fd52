from portal.celery import app
from portal.meta import services


@app.task(name="portal.meta.tasks.process_webhook_delivery")
def process_webhook_delivery(delivery_id: int) -> dict:
    """Safe to run twice: each change is applied once (see services.webhook_delivery_process)."""
    return services.webhook_delivery_process(delivery_id=delivery_id)


@app.task(name="portal.meta.tasks.process_pending_webhooks")
def process_pending_webhooks() -> int:
    """Drain every pending delivery (queued by a coalesced wake-up from the intake)."""
    return services.webhook_process_pending()


@app.task(name="portal.meta.tasks.webhook_sweep")
def webhook_sweep() -> int:
    return len(services.webhook_sweep())
