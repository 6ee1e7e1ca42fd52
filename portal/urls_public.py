"""URLs of the public host (PORTAL_DOMAIN): sign-in, workspace chooser, staff console, admin."""

from django.contrib import admin
from django.urls import path

from tenants.urls import public_urlpatterns

admin.site.site_header = "BSP portal administration"
admin.site.site_title = "BSP portal admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    *public_urlpatterns,
]
