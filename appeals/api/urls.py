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
]
