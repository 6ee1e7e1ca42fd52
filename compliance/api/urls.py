from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api.consent_views import (
    ConsentListView,
    ContactDetailView,
    OptOutView,
    SendCheckView,
)
from compliance.api.views import HealthEventViewSet, PhoneNumberViewSet

router = SimpleRouter()
router.register("numbers", PhoneNumberViewSet, basename="api-numbers")
router.register("events", HealthEventViewSet, basename="api-events")

urlpatterns = [
    *router.urls,
    path("send-check/", SendCheckView.as_view(), name="api-send-check"),
    path("consents/", ConsentListView.as_view(), name="api-consents"),
    path("opt-outs/", OptOutView.as_view(), name="api-opt-outs"),
    path("contacts/<str:phone>/", ContactDetailView.as_view(), name="api-contact"),
]
