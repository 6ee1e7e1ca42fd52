from django.urls import path

from tenants import console_views, views

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
    path(
        "auth/invitations/<str:token>/",
        console_views.invitation_accept,
        name="invitation-accept",
    ),
    path("settings/api-keys/", console_views.api_keys, name="console-api-keys"),
    path(
        "settings/api-keys/<int:key_id>/rotate/",
        console_views.api_key_rotate,
        name="console-api-key-rotate",
    ),
    path(
        "settings/api-keys/<int:key_id>/revoke/",
        console_views.api_key_revoke,
        name="console-api-key-revoke",
    ),
    path("settings/members/", console_views.member_list, name="console-members"),
    path(
        "settings/members/<int:membership_id>/role/",
        console_views.member_role,
        name="console-member-role",
    ),
    path(
        "settings/members/<int:membership_id>/remove/",
        console_views.member_remove,
        name="console-member-remove",
    ),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        console_views.invitation_revoke,
        name="console-invitation-revoke",
    ),
    path(
        "settings/notifications/",
        console_views.notification_settings,
        name="console-notifications",
    ),
    path("settings/activity/", console_views.activity, name="console-activity"),
    path("settings/activity.csv", console_views.activity_export, name="console-activity-export"),
    path("", views.home, name="home"),
]
