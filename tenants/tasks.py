from portal.celery import TenantOnlyTask, app, enqueue_for_schema
from tenants import selectors, services


@app.task(base=TenantOnlyTask, name="tenants.tasks.client_housekeeping")
def client_housekeeping() -> dict:
    """Per-client upkeep, run inside the client's schema: the schema's size, and consent
    import previews that were never applied."""
    from compliance.import_staging import staged_purge_expired

    result = services.client_housekeep_current_schema()
    result["previews_removed"] = staged_purge_expired()
    return result


@app.task(name="tenants.tasks.fan_out_tenant_housekeeping")
def fan_out_tenant_housekeeping() -> int:
    """Beat entry point: one tenant task per active client, from one query."""
    schemas = selectors.active_client_schemas()
    for schema in schemas:
        enqueue_for_schema(client_housekeeping, schema)
    services.login_handoff_purge_expired()
    return len(schemas)


@app.task(name="tenants.tasks.notification_digests_send")
def notification_digests_send() -> int:
    """Beat entry point (daily): each member's digest of the alerts queued for them."""
    from tenants.notifications import digest_send_due

    return digest_send_due()
