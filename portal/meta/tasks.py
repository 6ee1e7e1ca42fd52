from portal.celery import app
from portal.meta import services
from portal.meta.webhooks import wake

# A run drains for at most this long, then hands over to a fresh task (other work gets a turn).
DRAIN_SECONDS = 50


@app.task(name="portal.meta.tasks.process_pending_webhooks")
def process_pending_webhooks(slot: int | None = None, token: str | None = None) -> int:
    """Drain the due deliveries and changes (queued by a wake-up for a drain slot, the retry
    timer or the sweeper); several runs at once share the work (SKIP LOCKED)."""
    ticket = wake.Ticket(slot, token) if slot is not None and token else None
    return services.webhook_drain_run(ticket=ticket, max_seconds=DRAIN_SECONDS)


@app.task(name="portal.meta.tasks.webhook_sweep")
def webhook_sweep() -> int:
    found = services.webhook_sweep()
    return len(found.deliveries) + len(found.changes)
