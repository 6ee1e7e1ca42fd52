from django.urls import path

from templates_review import views

# Client host, under templates/.
urlpatterns = [
    path("", views.template_list, name="template-list"),
    path("new/", views.template_new, name="template-new"),
    path("lint/", views.template_lint, name="template-lint"),
    path("<int:template_id>/", views.template_detail, name="template-detail"),
    path("<int:template_id>/edit/", views.template_edit, name="template-edit"),
    path("<int:template_id>/submit/", views.template_submit, name="template-submit"),
    path("<int:template_id>/comments/", views.template_comment, name="template-comment"),
    path("<int:template_id>/unpause/", views.template_unpause, name="template-unpause"),
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
