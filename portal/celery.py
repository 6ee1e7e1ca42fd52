"""The Celery app. Tasks are tenant-aware (tenant-schemas-celery): a task sent from inside a
tenant carries the schema in its headers and runs inside that schema on the worker."""

from __future__ import annotations

import logging
import os
import time

from celery import bootsteps
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init
from django.db import close_old_connections, connection
from tenant_schemas_celery.app import CeleryApp

from portal.observability import stamp_task_with_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = CeleryApp("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
before_task_publish.connect(stamp_task_with_request_id, weak=False)
logger = logging.getLogger(__name__)


class RedisLeaseRenewal(bootsteps.StartStopStep):
    """Keeps the messages this worker holds invisible to redelivery while it is alive (Redis).

    Redis has no acknowledgements: kombu keeps each delivered message in an "unacked" sorted
    set, scored with its delivery time, and any worker's periodic sweep puts it back on its
    queue once it is older than `visibility_timeout`. A short timeout brings a dead worker's
    tasks back quickly (CELERY_VISIBILITY_TIMEOUT, seconds), but on its own it would also hand
    a task that runs longer than that (a big consent import) to a second worker while the
    first is still running it. So every `visibility_timeout / 3` seconds the worker re-scores
    the messages it has reserved or is running: they stay put while it lives, and come back
    one timeout after it dies. RabbitMQ needs none of this: it requeues a consumer's unacked
    messages as soon as its connection closes.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None

    def start(self, c):
        if c.connection is None or c.connection.transport.driver_type != "redis":
            return
        timeout = c.app.conf.broker_transport_options.get("visibility_timeout", 3600)
        self.timer_ref = c.timer.call_repeatedly(max(1.0, timeout / 3), self.renew, (c,))

    def stop(self, c):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def renew(self, c) -> int:
        from celery.worker import state

        tags = [r._message.delivery_tag for r in list(state.reserved_requests) if r._message]
        if not tags:
            return 0
        channel = c.connection.default_channel
        now = time.time()
        try:
            with channel.conn_or_acquire() as client:
                # XX: only re-score entries still there (an acked message must not come back).
                client.zadd(channel.unacked_index_key, dict.fromkeys(tags, now), xx=True)
        except channel.connection_errors:
            logger.warning("could not renew %d task lease(s); the broker is unreachable", len(tags))
            return 0
        return len(tags)


app.steps["consumer"].add(RedisLeaseRenewal)


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


BROKER_BACKOFF_SECONDS = 15.0  # half a sweeper period: what is not published waits for the sweep
_broker_down_until = 0.0


def enqueue_or_leave_to_sweeper(task, schema_name: str, *args) -> bool:
    """Publish a send task for rows already committed to an outbox, at most one try.

    Nothing is lost if the broker is down: the outbox sweeper sends what is due. So a failed
    publish is not retried, and for BROKER_BACKOFF_SECONDS this process does not try again:
    during an outage each request would otherwise wait for the broker's connect timeout. Returns
    whether the task was published.
    """
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    try:
        task.apply_async(args=args, headers={"_schema_name": schema_name}, retry=False)
    except Exception:  # any broker failure: the sweeper has the rows
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "Broker unavailable; %s left to the outbox sweeper for %.0f s",
            task.name,
            BROKER_BACKOFF_SECONDS,
            exc_info=True,
        )
        return False
    return True
