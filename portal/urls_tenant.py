"""URLs of a client host (<slug>.<PORTAL_DOMAIN>): the client portal and the REST API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from portal.api.docs import ApiDocsView
from tenants.urls import tenant_urlpatterns

urlpatterns = [
    path("api/v1/templates/", include("templates_review.api.urls")),
    path("api/v1/appeals/", include("appeals.api.urls")),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("integrations.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file: no inline script under the CSP.
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("compliance.urls")),
    path("", include("appeals.urls")),
    path("templates/", include("templates_review.urls")),
    path("", include("integrations.urls")),
    *tenant_urlpatterns,
]
handler404 = "portal.api.errors.not_found"
