from django.urls import path

from appeals import views
from tenants.actors import require_area
from tenants.permissions import Area

# Every appeal page: members of this client, and staff whose role reaches appeals of it.
appeals_area = require_area(Area.APPEALS)

urlpatterns = [
    path("appeals/", appeals_area(views.appeal_list), name="appeal-list"),
    path("appeals/new/", appeals_area(views.appeal_open), name="appeal-open"),
    path("appeals/<int:ticket_id>/", appeals_area(views.appeal_detail), name="appeal-detail"),
    path(
        "appeals/<int:ticket_id>/answers/",
        appeals_area(views.appeal_answers),
        name="appeal-answers",
    ),
    path(
        "appeals/<int:ticket_id>/messages/",
        appeals_area(views.appeal_message),
        name="appeal-message",
    ),
    path(
        "appeals/<int:ticket_id>/thread.csv",
        appeals_area(views.appeal_export),
        name="appeal-export",
    ),
    path(
        "appeals/<int:ticket_id>/evidence/",
        appeals_area(views.appeal_evidence),
        name="appeal-evidence",
    ),
    path(
        "appeals/<int:ticket_id>/steps/<slug:action>/",
        appeals_area(views.appeal_transition),
        name="appeal-transition",
    ),
    path(
        "appeals/<int:ticket_id>/files/<int:attachment_id>/",
        appeals_area(views.attachment_download),
        name="appeal-file",
    ),
    path(
        "appeals/recovery/<int:item_id>/",
        appeals_area(views.recovery_toggle),
        name="appeal-recovery-toggle",
    ),
]
