"""Billing's pages. Those under /billing/ are named in the "billing" namespace; the teams and
alerts pages keep the names they had at the top (teams, alerts, ...)."""

from django.urls import path

from billing.alerts import views as alert_views
from billing.ledger import views as ledger_views
from billing.limits import views as team_views
from billing.usage import views as usage_views

app_name = "billing"
urlpatterns = [
    path("", ledger_views.billing_overview, name="overview"),
    path("ledger/", ledger_views.ledger, name="ledger"),
    path("usage/", usage_views.org_usage, name="usage"),
    path("usage/teams/<uuid:team_id>/", usage_views.team_usage, name="team-usage"),
    path("usage/requests/", usage_views.request_lookup, name="request"),
]

# Included without a namespace, at the root.
top_level = [
    path("teams/", team_views.team_list, name="teams"),
    path("teams/new/", team_views.team_new, name="team-new"),
    path("teams/<uuid:team_id>/", team_views.team_detail, name="team-detail"),
    path("teams/<uuid:team_id>/edit/", team_views.team_edit, name="team-edit"),
    path("teams/<uuid:team_id>/delete/", team_views.team_delete, name="team-delete"),
    path("billing/alerts/", alert_views.alert_list, name="alerts"),
    path("billing/alerts/settings/", alert_views.alert_settings, name="alert-settings"),
    path(
        "billing/alerts/settings/webhook-secret/",
        alert_views.webhook_secret_regenerate,
        name="alert-webhook-secret",
    ),
]
