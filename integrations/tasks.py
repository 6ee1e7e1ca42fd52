import time

from portal.celery import TenantOnlyTask, app, enqueue_for_schema


@app.task(base=TenantOnlyTask, name="integrations.tasks.webhook_send")
def webhook_send(delivery_ids: list[int]) -> int:
    """Send these outbox rows (those still due); safe to run twice."""
    from integrations.delivery import deliveries_send

    return deliveries_send(ids=delivery_ids)


@app.task(name="integrations.tasks.email_send")
def email_send(email_ids: list[int]) -> int:
    """Send these queued e-mails (in the schema they were queued in, public included)."""
    from integrations.notify import emails_send

    return emails_send(ids=email_ids)


SWEEP_BUDGET_SECONDS = 25.0  # under beat's 30 s period, so two sweeps of a schema rarely overlap


@app.task(name="integrations.tasks.outbox_sweep")
def outbox_sweep(*, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> dict:
    """Send what is due in this schema: retries, and what the broker lost.

    Batch after batch while a batch came back full, within the budget: after a receiver's outage
    thousands fall due at once, and one batch per beat period would take minutes to catch up.
    """
    from django.db import connection

    from integrations.delivery import SEND_BATCH, deliveries_send
    from integrations.notify import EMAIL_BATCH, emails_send

    deadline = time.monotonic() + budget_seconds
    totals = {"emails": 0, "webhooks": 0}
    webhooks_due = connection.schema_name != "public"
    emails_due = True
    while emails_due or webhooks_due:
        if emails_due:
            sent = emails_send(limit=EMAIL_BATCH)
            totals["emails"] += sent
            emails_due = sent == EMAIL_BATCH
        if webhooks_due:
            sent = deliveries_send(limit=SEND_BATCH)
            totals["webhooks"] += sent
            webhooks_due = sent == SEND_BATCH
        if time.monotonic() >= deadline:
            break
    return totals


@app.task(name="integrations.tasks.fan_out_outbox_sweep")
def fan_out_outbox_sweep() -> int:
    """Beat: sweep the public schema here, and each active client in its own task."""
    from tenants.selectors import active_client_schemas

    outbox_sweep()
    schemas = active_client_schemas()
    for schema in schemas:
        enqueue_for_schema(outbox_sweep, schema)
    return len(schemas)
