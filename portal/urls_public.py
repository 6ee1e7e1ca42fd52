"""URLs of the public host (PORTAL_DOMAIN): sign-in, workspace chooser, staff console, admin."""

from django.contrib import admin
from django.urls import include, path

from portal.meta.views import (
    meta_webhook,
    staff_webhook_delivery,
    staff_webhook_dismiss,
    staff_webhook_retry,
    staff_webhooks,
)
from templates_review.urls import staff_urlpatterns as template_staff_urlpatterns
from tenants.urls import public_urlpatterns

admin.site.site_header = "BSP portal administration"
admin.site.site_title = "BSP portal admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/meta", meta_webhook, name="meta-webhook"),
    path("staff/webhooks/", staff_webhooks, name="staff-webhooks"),
    path("staff/webhooks/<int:change_id>/retry/", staff_webhook_retry, name="staff-webhook-retry"),
    path(
        "staff/webhooks/<int:change_id>/dismiss/",
        staff_webhook_dismiss,
        name="staff-webhook-dismiss",
    ),
    path(
        "staff/webhooks/deliveries/<int:delivery_id>/",
        staff_webhook_delivery,
        name="staff-webhook-delivery",
    ),
    path("staff/appeals/", include("appeals.staff_urls")),
    *public_urlpatterns,
    path("staff/templates/", include(template_staff_urlpatterns)),
]
