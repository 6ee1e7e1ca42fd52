"""Settings for `make bench-scale`: production settings plus one tenant app whose migrations
stand for "the next release's migration" (tests/benchmarks/scale_probe)."""

from portal.settings.base import *  # noqa: F403

TENANT_APPS = [*TENANT_APPS, "tests.benchmarks.scale_probe"]  # noqa: F405
INSTALLED_APPS = [*INSTALLED_APPS, "tests.benchmarks.scale_probe"]  # noqa: F405
