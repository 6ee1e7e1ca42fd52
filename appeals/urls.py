from django.urls import path

from appeals import views

urlpatterns = [
    path("appeals/", views.appeal_list, name="appeal-list"),
    path("appeals/new/", views.appeal_open, name="appeal-open"),
    path("appeals/<int:ticket_id>/", views.appeal_detail, name="appeal-detail"),
    path("appeals/<int:ticket_id>/answers/", views.appeal_answers, name="appeal-answers"),
    path("appeals/<int:ticket_id>/messages/", views.appeal_message, name="appeal-message"),
    path("appeals/<int:ticket_id>/thread.csv", views.appeal_export, name="appeal-export"),
    path("appeals/<int:ticket_id>/evidence/", views.appeal_evidence, name="appeal-evidence"),
    path(
        "appeals/<int:ticket_id>/steps/<slug:action>/",
        views.appeal_transition,
        name="appeal-transition",
    ),
    path(
        "appeals/<int:ticket_id>/files/<int:attachment_id>/",
        views.attachment_download,
        name="appeal-file",
    ),
    path("appeals/recovery/<int:item_id>/", views.recovery_toggle, name="appeal-recovery-toggle"),
]
