from django.urls import path

from templates_review.api import views

urlpatterns = [
    path("lint/", views.TemplateLintView.as_view(), name="api-templates-lint"),
]
