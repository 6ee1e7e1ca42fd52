"""Queues on the real broker that belong to one test or benchmark run."""

from __future__ import annotations


def queue_delete(queue: str) -> int:
    """Purge and delete `queue` (and its binding) on the broker; returns the purged count."""
    from django.conf import settings
    from kombu import Connection, Exchange, Queue

    with Connection(settings.CELERY_BROKER_URL) as conn:
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(
            conn.default_channel
        )
        bound.declare()
        purged = bound.purge() or 0
        bound.delete()
    return purged
