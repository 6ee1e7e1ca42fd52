"""Project wiring for the BSP operations portal."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
