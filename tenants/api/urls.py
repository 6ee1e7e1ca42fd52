from django.urls import path

from tenants.api import views

urlpatterns = [
    path("me/", views.WhoAmIView.as_view(), name="api-me"),
    path("members/", views.MemberListView.as_view(), name="api-members"),
]
