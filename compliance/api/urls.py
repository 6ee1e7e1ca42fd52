from rest_framework.routers import SimpleRouter

from compliance.api.views import HealthEventViewSet, PhoneNumberViewSet

router = SimpleRouter()
router.register("numbers", PhoneNumberViewSet, basename="api-numbers")
router.register("events", HealthEventViewSet, basename="api-events")

urlpatterns = router.urls
