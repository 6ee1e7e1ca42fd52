from django.urls import path

from compliance import consent_views, views

urlpatterns = [
    path("numbers/<int:number_id>/", views.number_detail, name="number-detail"),
    path("sync/", views.sync_now, name="sync-now"),
    path("sync/<int:run_id>/", views.sync_status, name="sync-status"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("contacts/", consent_views.contact_list, name="consent-contacts"),
    path("contacts/record/", consent_views.contact_record, name="consent-record"),
    path("contacts/<str:phone>/", consent_views.contact_detail, name="consent-contact"),
    path("consent/export.csv", consent_views.consent_export, name="consent-export"),
    path("consent/imports/", consent_views.import_list, name="consent-imports"),
    path("consent/imports/apply/", consent_views.import_apply, name="consent-import-apply"),
    path("consent/imports/<int:import_id>/", consent_views.import_detail, name="consent-import"),
    path(
        "consent/imports/<int:import_id>/errors.csv",
        consent_views.import_errors,
        name="consent-import-errors",
    ),
    path("consent/policy/", consent_views.policy_settings, name="consent-policy"),
]
