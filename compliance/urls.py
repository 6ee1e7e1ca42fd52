from django.urls import path

from compliance import views

urlpatterns = [
    path("numbers/<int:number_id>/", views.number_detail, name="number-detail"),
    path("sync/", views.sync_now, name="sync-now"),
    path("sync/<int:run_id>/", views.sync_status, name="sync-status"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
]
