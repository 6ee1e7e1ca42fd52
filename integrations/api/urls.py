from django.urls import path

from integrations.api import views as v

urlpatterns = [
    path("webhook-event-types/", v.EventTypeListView.as_view(), name="api-webhook-event-types"),
    path("webhook-endpoints/", v.WebhookEndpointListView.as_view(), name="api-webhook-endpoints"),
    path("webhook-endpoints/<int:pk>/", v.WebhookEndpointDetailView.as_view()),
    path("webhook-endpoints/<int:pk>/rotate-secret/", v.WebhookEndpointRotateSecretView.as_view()),
    path("webhook-endpoints/<int:pk>/pause/", v.WebhookEndpointPauseView.as_view()),
    path("webhook-endpoints/<int:pk>/resume/", v.WebhookEndpointResumeView.as_view()),
    path("webhook-endpoints/<int:pk>/test/", v.WebhookEndpointTestView.as_view()),
    path("webhook-endpoints/<int:pk>/deliveries/", v.WebhookDeliveryListView.as_view()),
    path(
        "webhook-endpoints/<int:pk>/deliveries/<int:delivery_id>/",
        v.WebhookDeliveryDetailView.as_view(),
    ),
    path(
        "webhook-endpoints/<int:pk>/deliveries/<int:delivery_id>/replay/",
        v.WebhookDeliveryReplayView.as_view(),
    ),
]
