from django.urls import path

from billing import usage_views, views

app_name = "billing"
urlpatterns = [
    path("", views.billing_overview, name="overview"),
    path("ledger/", views.ledger, name="ledger"),
    path("usage/", usage_views.org_usage, name="usage"),
    path("usage/teams/<uuid:team_id>/", usage_views.team_usage, name="team-usage"),
    path("usage/requests/", usage_views.request_lookup, name="request"),
]
