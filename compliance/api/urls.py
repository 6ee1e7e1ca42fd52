from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api.account_views import (
    AccountViewSet,
    ActivityView,
    AlertViewSet,
    ContactTimelineView,
    PolicyView,
    SyncRunView,
    SyncView,
)
from compliance.api.consent_views import (
    ConsentListView,
    ContactDetailView,
    OptOutView,
    SendCheckView,
)
from compliance.api.import_views import (
    ConsentExportView,
    ConsentImportDetailView,
    ConsentImportErrorsView,
    ConsentImportListView,
)
from compliance.api.portfolio_views import ErrorActionListView, PortfolioListView
from compliance.api.views import HealthEventViewSet, PhoneNumberViewSet

router = SimpleRouter()
router.register("numbers", PhoneNumberViewSet, basename="api-numbers")
router.register("events", HealthEventViewSet, basename="api-events")
router.register("accounts", AccountViewSet, basename="api-accounts")
router.register("alerts", AlertViewSet, basename="api-alerts")

urlpatterns = [
    *router.urls,
    path("sync/", SyncView.as_view(), name="api-sync"),
    path("sync/<int:pk>/", SyncRunView.as_view(), name="api-sync-run"),
    path("policy/", PolicyView.as_view(), name="api-policy"),
    path("activity/", ActivityView.as_view(), name="api-activity"),
    path("contacts/<int:pk>/timeline/", ContactTimelineView.as_view(), name="api-contact-timeline"),
    path("send-check/", SendCheckView.as_view(), name="api-send-check"),
    path("portfolio/", PortfolioListView.as_view(), name="api-portfolio"),
    path("error-codes/", ErrorActionListView.as_view(), name="api-error-codes"),
    path("consents/", ConsentListView.as_view(), name="api-consents"),
    path("opt-outs/", OptOutView.as_view(), name="api-opt-outs"),
    path("contacts/<str:phone>/", ContactDetailView.as_view(), name="api-contact"),
    path("consents/export/", ConsentExportView.as_view(), name="api-consent-export"),
    path("imports/", ConsentImportListView.as_view(), name="api-imports"),
    path("imports/<int:pk>/", ConsentImportDetailView.as_view(), name="api-import"),
    path("imports/<int:pk>/errors/", ConsentImportErrorsView.as_view(), name="api-import-errors"),
]
