"""The Celery app. Tasks are tenant-aware (tenant-schemas-celery): a task sent from inside a
tenant carries the schema in its headers and runs inside that schema on the worker."""

from __future__ import annotations

import os

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init
from django.db import close_old_connections, connection
from tenant_schemas_celery.app import CeleryApp

from portal.observability import stamp_task_with_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = CeleryApp("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
before_task_publish.connect(stamp_task_with_request_id, weak=False)


def close_old_database_connections(sender=None, **_) -> None:
    """Around each task, what Django does around each request: drop a connection older than
    DB_CONN_MAX_AGE or left unusable, keep a healthy one (CELERY_DB_REUSE_MAX stops Celery's
    fixup from closing it every time). Not for eager tasks, which run inside the caller's
    transaction."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


def verify_database_pool_mode(**_) -> None:
    """A worker refuses to start behind a PgBouncer whose pool mode is not DATABASE_POOL_MODE.
    SystemExit, since Celery only logs an Exception raised by a signal handler."""
    from django.core.exceptions import ImproperlyConfigured

    from portal.db import pool_mode_verify

    try:
        pool_mode_verify()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"worker refused to start: {exc}") from exc


worker_init.connect(verify_database_pool_mode, weak=False)
task_prerun.connect(close_old_database_connections, weak=False)
task_postrun.connect(close_old_database_connections, weak=False)


class TenantSchemaRequired(RuntimeError):
    """A tenant task arrived without a tenant schema (it would otherwise run in `public`)."""


class TenantOnlyTask(app.Task):
    """Base for every task that works on one client's data.

    tenant-schemas-celery runs a task whose schema header is missing in `public`; for a tenant
    task that would read or write the wrong tables, so it refuses to run instead.
    """

    abstract = True

    def __call__(self, *args, **kwargs):
        from django_tenants.utils import get_public_schema_name

        if connection.schema_name == get_public_schema_name():
            raise TenantSchemaRequired(
                f"{self.name} is a tenant task and was started without a tenant schema."
            )
        return super().__call__(*args, **kwargs)


def enqueue_for_schema(task, schema_name: str, *args, **kwargs):
    """Send a tenant task to run inside `schema_name`, whatever schema the caller is in."""
    return task.apply_async(args=args, kwargs=kwargs, headers={"_schema_name": schema_name})
