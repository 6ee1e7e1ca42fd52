"""Settings for the pages benchmark's gunicorn: the production settings, plus the anchors.

`bench_pages` compares every page with a signed-in page that runs no query of its own. That
view exists only here: both URLconfs are the project's own plus `/bench/...`
(`tests.benchmarks.bench_urls` on the public host, `bench_urls_tenant` on a client's), so the
anchor takes the same middleware, host routing, session and tenant access check as the pages.
"""

from tests.benchmarks.bench_settings import *  # noqa: F403

ROOT_URLCONF = "tests.benchmarks.bench_urls_tenant"
