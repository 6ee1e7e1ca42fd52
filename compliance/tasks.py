import logging

from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, tenant_context

from compliance.models import SyncRun
from portal.celery import TenantOnlyTask, app, enqueue_for_schema
from portal.meta import credentials
from portal.meta.client import GraphClient
from tenants.selectors import active_client_schemas_with_wabas

logger = logging.getLogger(__name__)

# Clients one fleet-sync task syncs in turn (`sync_clients`): a task's own cost (the broker
# message, its result, the tenant lookup, a Graph connection) is paid once for them all.
SYNC_BATCH = 10


@app.task(base=TenantOnlyTask, bind=True, name="compliance.tasks.sync_client", max_retries=5)
def sync_client(self, run_id: int | None = None) -> dict:
    """Sync this client's WABAs, numbers and templates with Meta."""
    from compliance.sync import client_sync

    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    with GraphClient(token=credentials.system_user_token()) as graph:
        result = client_sync(graph=graph, run=run)
    if result.retry_after and not run:
        raise self.retry(countdown=_retry_countdown(result.retry_after))
    return {"schema": connection.schema_name, **_counts(result)}


def _retry_countdown(retry_after: float) -> float:
    return min(retry_after, 3600)


def _counts(result) -> dict:
    return {
        "accounts": result.accounts,
        "numbers": result.numbers,
        "templates": result.templates,
        "errors": result.errors,
    }


def sync_batches(schemas: list[str]) -> list[list[str]]:
    """The fleet sync's tasks: SYNC_BATCH schemas each, in the order given."""
    return [schemas[i : i + SYNC_BATCH] for i in range(0, len(schemas), SYNC_BATCH)]


@app.task(name="compliance.tasks.sync_clients")
def sync_clients(schemas: list[str]) -> dict:
    """The fleet sync of a few clients, one after the other, each inside its own tenant (as
    `sync_client` runs it) on one Graph client. A client Meta throttled is sent again on its
    own as `sync_client`, when Meta allows it; one that fails does not stop the others (its
    error is in the result, and logged)."""
    from compliance.sync import client_sync
    from tenants.models import Client

    clients = {c.schema_name: c for c in Client.objects.filter(schema_name__in=schemas)}
    totals: dict = {"clients": 0, "accounts": 0, "numbers": 0, "templates": 0, "errors": []}
    with GraphClient(token=credentials.system_user_token()) as graph:
        for schema in schemas:
            client = clients.get(schema)
            if client is None:
                totals["errors"].append(f"{schema}: no such client")
                continue
            try:
                with tenant_context(client):
                    result = client_sync(graph=graph)
            except Exception as exc:
                logger.exception("sync of %s failed", schema)
                totals["errors"].append(f"{schema}: {exc!r}")
                continue
            if result.retry_after:
                sync_client.apply_async(
                    headers={"_schema_name": schema},
                    countdown=_retry_countdown(result.retry_after),
                )
            totals["clients"] += 1
            for key, value in _counts(result).items():
                totals[key] += [f"{schema}: {e}" for e in value] if key == "errors" else value
    return totals


@app.task(name="compliance.tasks.fan_out_sync")
def fan_out_sync() -> int:
    """Beat entry point: every active client with a WABA, from one query, synced SYNC_BATCH
    clients a task (`sync_clients`). Returns how many clients."""
    schemas = active_client_schemas_with_wabas()
    for batch in sync_batches(schemas):  # not a tenant task: each client is entered in turn
        enqueue_for_schema(sync_clients, get_public_schema_name(), batch)
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
