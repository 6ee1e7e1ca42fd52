from django.db import connection
from django.utils import timezone

from compliance.models import SyncRun
from portal.celery import TenantOnlyTask, app, enqueue_for_schema
from portal.meta import credentials
from portal.meta.client import GraphClient
from tenants.selectors import active_client_schemas_with_wabas


@app.task(base=TenantOnlyTask, bind=True, name="compliance.tasks.sync_client", max_retries=5)
def sync_client(self, run_id: int | None = None) -> dict:
    """Sync this client's WABAs, numbers and templates with Meta."""
    from compliance.sync import client_sync

    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    with GraphClient(token=credentials.system_user_token()) as graph:
        result = client_sync(graph=graph, run=run)
    if result.retry_after and not run:
        raise self.retry(countdown=min(result.retry_after, 3600))
    return {
        "schema": connection.schema_name,
        "accounts": result.accounts,
        "numbers": result.numbers,
        "templates": result.templates,
        "errors": result.errors,
    }


@app.task(name="compliance.tasks.fan_out_sync")
def fan_out_sync() -> int:
    """Beat entry point: one sync task per active client with a WABA, from one query."""
    schemas = active_client_schemas_with_wabas()
    for schema in schemas:
        enqueue_for_schema(sync_client, schema)
    return len(schemas)


@app.task(base=TenantOnlyTask, name="compliance.tasks.consent_import")
def consent_import(import_id: int) -> dict:
    """Apply an uploaded consent CSV (`compliance.imports`); safe to run twice."""
    from compliance.imports import consent_import_run

    job = consent_import_run(import_id=import_id)
    if job is None:
        return {"import": import_id, "state": "missing"}
    return {"import": job.pk, "state": job.state, "rows": job.rows_done}


@app.task(name="compliance.tasks.consent_import_sweep")
def consent_import_sweep() -> int:
    """Beat entry point: send again every consent import that is queued or running with no
    progress for a while (broker down at upload, worker killed); a job still being applied is
    left to its run (`consent_import_run` takes a lock)."""
    from compliance.imports import consent_import_requeue, consent_imports_stale
    from tenants.selectors import active_client_schemas

    now = timezone.now()
    stale = consent_imports_stale(schemas=active_client_schemas(), now=now)
    for schema, import_id in stale:
        consent_import_requeue(schema=schema, import_id=import_id, now=now)
    return len(stale)


@app.task(base=TenantOnlyTask, name="compliance.tasks.portfolio_usage_watch")
def portfolio_usage_watch() -> dict:
    """Measure each portfolio of this client, alert at 80% / 100% (`compliance.portfolio`)."""
    from compliance.models import BusinessPortfolio
    from compliance.portfolio import portfolio_usage_watch as watch

    used = {p.meta_id: watch(portfolio=p).used for p in BusinessPortfolio.objects.all()}
    return {"schema": connection.schema_name, "portfolios": used}


@app.task(name="compliance.tasks.fan_out_portfolio_usage")
def fan_out_portfolio_usage() -> int:
    """Beat entry point: one usage watch per active client with a WABA."""
    schemas = active_client_schemas_with_wabas()
    for schema in schemas:
        enqueue_for_schema(portfolio_usage_watch, schema)
    return len(schemas)
