from portal.celery import app
from portal.meta import services
from portal.meta.webhooks import pipeline

# A run drains for at most this long, then hands over to a fresh task (other work gets a turn).
DRAIN_SECONDS = 50


@app.task(name="portal.meta.tasks.process_pending_webhooks")
def process_pending_webhooks() -> int:
    """Drain the due deliveries and changes (queued by a coalesced wake-up or the sweeper);
    several runs at once share the work (SKIP LOCKED). A retry falling due soon gets a run."""
    done = services.webhook_process_pending(max_seconds=DRAIN_SECONDS)
    due_in = pipeline.next_due_in()
    if due_in is not None and due_in < 30:
        services._queue_drain(countdown=max(due_in, 0.5))
    return done


@app.task(name="portal.meta.tasks.webhook_sweep")
def webhook_sweep() -> int:
    found = services.webhook_sweep()
    return len(found.deliveries) + len(found.changes)
