"""Project wiring for the BSP operations portal.

The Celery app lives in `portal.celery` (found by `celery -A portal`); it is not imported here so
that importing any `portal` module has no side effects on the environment.
"""
