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


@app.task(name="integrations.tasks.outbox_sweep")
def outbox_sweep() -> dict:
    """Send what is due in this schema: retries, and what the broker lost."""
    from django.db import connection

    from integrations.delivery import deliveries_send
    from integrations.notify import emails_send

    emails = emails_send()
    webhooks = 0 if connection.schema_name == "public" else deliveries_send()
    return {"emails": emails, "webhooks": webhooks}


@app.task(name="integrations.tasks.fan_out_outbox_sweep")
def fan_out_outbox_sweep() -> int:
    """Beat: sweep the public schema here, and each active client in its own task."""
    from tenants.selectors import active_client_schemas

    outbox_sweep()
    schemas = active_client_schemas()
    for schema in schemas:
        enqueue_for_schema(outbox_sweep, schema)
    return len(schemas)
