"""A client host's URLconf plus the pages benchmark's anchors (see `bench_pages_settings`);
never routed in the project itself."""

from django.urls import path

from portal.urls_tenant import handler404 as handler404
from portal.urls_tenant import urlpatterns as tenant_urlpatterns
from tests.benchmarks.bench_urls import bare, signed_in

urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("bench/signed-in/", signed_in, name="bench-signed-in"),
    *tenant_urlpatterns,
]
