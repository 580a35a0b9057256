from django.urls import path

from keys import hygiene_views, leak_views, preview_views, sighting_views, views

app_name = "keys"
urlpatterns = [
    path("", views.key_list, name="list"),
    path("new/", views.key_new, name="new"),
    path("batch/", views.key_batch, name="batch"),
    path("report-leak/", leak_views.report_leak, name="report-leak"),
    path("hygiene/", hygiene_views.hygiene_page, name="hygiene"),
    path("<uuid:key_id>/", views.key_detail, name="detail"),
    path("<uuid:key_id>/usage/", views.key_usage, name="usage"),
    path("<uuid:key_id>/requests/", views.key_requests, name="requests"),
    path("<uuid:key_id>/edit/", views.key_edit, name="edit"),
    path("<uuid:key_id>/preview/", preview_views.key_preview, name="preview"),
    path("<uuid:key_id>/rotate/", views.key_rotate, name="rotate"),
    path("<uuid:key_id>/allow-address/", sighting_views.key_allow_address, name="allow-address"),
    path("<uuid:key_id>/disable/", views.key_status_action, {"action": "disable"}, name="disable"),
    path("<uuid:key_id>/enable/", views.key_status_action, {"action": "enable"}, name="enable"),
    path("<uuid:key_id>/delete/", views.key_status_action, {"action": "delete"}, name="delete"),
]
