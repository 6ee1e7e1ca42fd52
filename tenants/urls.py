from django.urls import path

from tenants import views

auth_urlpatterns = [
    path("auth/login/", views.LoginView.as_view(), name="login"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/switch/<slug:slug>/", views.switch, name="switch"),
    path("favicon.ico", views.favicon, name="favicon"),
]

public_urlpatterns = [
    *auth_urlpatterns,
    path("", views.home, name="home"),
    path("staff/", views.staff_console, name="staff-console"),
    path("staff/clients/new/", views.staff_client_create, name="staff-client-create"),
    path("staff/clients/<slug:slug>/link-waba/", views.staff_link_waba, name="staff-link-waba"),
    path("staff/fleet/", views.staff_fleet, name="staff-fleet"),
]

tenant_urlpatterns = [
    *auth_urlpatterns,
    path("auth/handoff/", views.handoff, name="handoff"),
    path("", views.home, name="home"),
]
