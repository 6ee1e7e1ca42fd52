"""Settings for the intake benchmark's gunicorn: the production settings, plus one URL.

`bench_webhook_intake` compares the webhook with "a bare Django view doing one primary-key
SELECT". That view exists only here: `PUBLIC_SCHEMA_URLCONF` points at `bench_urls`, which is
the project's public URLconf (`portal.urls_public`, webhook included, unchanged) plus that one
view. Everything else is `portal.settings.base` as deployed, so both sides of the comparison go
through the same middleware stack, host routing, logging and database settings; the ratio
measures only what the webhook adds over one SELECT.
"""

from portal.settings.base import *  # noqa: F403

PUBLIC_SCHEMA_URLCONF = "tests.benchmarks.bench_urls"
