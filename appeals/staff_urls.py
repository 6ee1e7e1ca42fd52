from django.urls import path

from appeals import staff_views as views

urlpatterns = [
    path("", views.staff_inbox, name="staff-appeals"),
    path("<slug:slug>/<int:ticket_id>/", views.staff_appeal_detail, name="staff-appeal-detail"),
    path(
        "<slug:slug>/<int:ticket_id>/steps/<slug:action>/",
        views.staff_appeal_transition,
        name="staff-appeal-transition",
    ),
    path(
        "<slug:slug>/<int:ticket_id>/messages/",
        views.staff_appeal_message,
        name="staff-appeal-message",
    ),
    path(
        "<slug:slug>/<int:ticket_id>/assign/", views.staff_appeal_assign, name="staff-appeal-assign"
    ),
    path(
        "<slug:slug>/<int:ticket_id>/evidence/",
        views.staff_appeal_evidence,
        name="staff-appeal-evidence",
    ),
    path(
        "<slug:slug>/<int:ticket_id>/files/<int:attachment_id>/",
        views.staff_attachment_download,
        name="staff-appeal-file",
    ),
]
