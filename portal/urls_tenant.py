"""URLs of a client host (<slug>.<PORTAL_DOMAIN>): the client portal and the REST API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tenants.urls import tenant_urlpatterns

urlpatterns = [
    path("api/v1/templates/", include("templates_review.api.urls")),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("compliance.urls")),
    *tenant_urlpatterns,
]
