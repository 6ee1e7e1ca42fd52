from django.urls import path

from templates_review.api import views

urlpatterns = [
    path("send-results/", views.SendResultsView.as_view(), name="api-templates-send-results"),
    path("lint/", views.TemplateLintView.as_view(), name="api-templates-lint"),
    path("", views.TemplateListView.as_view(), name="api-templates"),
    path("<int:pk>/", views.TemplateDetailView.as_view(), name="api-template"),
    path("<int:pk>/submit/", views.TemplateSubmitView.as_view(), name="api-template-submit"),
    path("<int:pk>/comments/", views.TemplateCommentsView.as_view(), name="api-template-comments"),
    path("<int:pk>/approve/", views.TemplateApproveView.as_view(), name="api-template-approve"),
    path(
        "<int:pk>/request-changes/",
        views.TemplateRequestChangesView.as_view(),
        name="api-template-request-changes",
    ),
    path("<int:pk>/reject/", views.TemplateRejectView.as_view(), name="api-template-reject"),
    path("<int:pk>/unpause/", views.TemplateUnpauseView.as_view(), name="api-template-unpause"),
]
