from django.urls import path

from templates_review import views
from tenants.actors import require_area
from tenants.permissions import Area

# Client host, under templates/: members of this client, and staff whose role reaches its
# templates (template reviewers, the account manager, superusers).
templates_area = require_area(Area.TEMPLATES)

urlpatterns = [
    path("", templates_area(views.template_list), name="template-list"),
    path("new/", templates_area(views.template_new), name="template-new"),
    path("lint/", templates_area(views.template_lint), name="template-lint"),
    path("<int:template_id>/", templates_area(views.template_detail), name="template-detail"),
    path("<int:template_id>/edit/", templates_area(views.template_edit), name="template-edit"),
    path(
        "<int:template_id>/submit/", templates_area(views.template_submit), name="template-submit"
    ),
    path(
        "<int:template_id>/comments/",
        templates_area(views.template_comment),
        name="template-comment",
    ),
    path(
        "<int:template_id>/unpause/",
        templates_area(views.template_unpause),
        name="template-unpause",
    ),
]

# Public host, under staff/templates/.
staff_urlpatterns = [
    path("", views.staff_queue, name="staff-template-queue"),
    path(
        "<slug:slug>/<int:template_id>/<str:action>/",
        views.staff_queue_action,
        name="staff-template-action",
    ),
]
