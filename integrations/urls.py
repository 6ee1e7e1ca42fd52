from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations/webhooks/", views.endpoint_list, name="webhook-endpoints"),
    path(
        "integrations/webhooks/<int:endpoint_id>/", views.endpoint_detail, name="webhook-endpoint"
    ),
    path(
        "integrations/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="webhook-delivery",
    ),
    path(
        "integrations/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/replay/",
        views.delivery_replay,
        name="webhook-delivery-replay",
    ),
    path(
        "integrations/webhooks/<int:endpoint_id>/<slug:action>/",
        views.endpoint_action,
        name="webhook-endpoint-action",
    ),
]
