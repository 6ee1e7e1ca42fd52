from django.urls import path

from appeals.api import views

urlpatterns = [
    path("", views.AppealListView.as_view(), name="api-appeals"),
    path("<int:pk>/", views.AppealDetailView.as_view(), name="api-appeal"),
    path("<int:pk>/messages/", views.AppealMessagesView.as_view(), name="api-appeal-messages"),
    path(
        "<int:pk>/transitions/",
        views.AppealTransitionView.as_view(),
        name="api-appeal-transitions",
    ),
    path("<int:pk>/attachments/", views.AppealAttachmentListView.as_view()),
    path(
        "<int:pk>/attachments/<int:attachment_id>/download/",
        views.AppealAttachmentDownloadView.as_view(),
    ),
    path("<int:pk>/evidence/", views.AppealEvidenceView.as_view()),
    path("<int:pk>/recovery/", views.AppealRecoveryView.as_view()),
    path("<int:pk>/recovery/<int:item_id>/", views.AppealRecoveryItemView.as_view()),
]
