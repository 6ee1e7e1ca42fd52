"""Test settings: the base module plus what makes the suite fast and hermetic."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("META_APP_SECRET", "test-app-secret")
os.environ.setdefault("META_VERIFY_TOKEN", "test-verify-token")
os.environ.setdefault("META_SYSTEM_USER_TOKEN", "test-system-user-token")
os.environ.setdefault("META_APP_ID", "100000000000001")
os.environ.setdefault("META_CREDENTIALS_KEY", "dGVzdC1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhISE=")

from portal.settings.base import *  # noqa: F403

# `TEST_CLOCK_OFFSET_DAYS=400 make test`: every process of the run (pytest's, its xdist workers,
# the Celery workers and servers tests start with these settings) sees a clock that many days
# ahead, to prove no test depends on today's date.
TEST_CLOCK_OFFSET_DAYS = int(os.environ.get("TEST_CLOCK_OFFSET_DAYS") or 0)
if TEST_CLOCK_OFFSET_DAYS:  # once per process: Django imports its settings once
    import datetime as _dt

    import time_machine

    time_machine.travel(
        _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=TEST_CLOCK_OFFSET_DAYS), tick=True
    ).start()

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
SECURE_COOKIES = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
CACHES["default"] = {  # noqa: F405
    **CACHES["default"],  # noqa: F405
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Connections close at the end of each request so the threads of the browser tests' live server
# do not hold the test database open.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# A tenant app that exists only in tests (tests/migration_probe): "the next migration".
TENANT_APPS = [*TENANT_APPS, "tests.migration_probe"]  # noqa: F405
INSTALLED_APPS = [*INSTALLED_APPS, "tests.migration_probe", "tests.webhook_probe"]  # noqa: F405

# Each test process has a queue of its own on the shared broker: what it enqueues (after commit,
# e.g. from the live server) reaches only the worker it starts (tests/conftest.py), and what that
# worker enqueues goes back to the same queue (TEST_CELERY_QUEUE, set for the worker).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TEST_CELERY_QUEUE") or f"test-{os.getpid()}"
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # receivers in tests listen on loopback
