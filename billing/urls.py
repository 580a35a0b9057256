from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("", views.billing_overview, name="overview"),
    path("ledger/", views.ledger, name="ledger"),
    path("caps/", views.caps, name="caps"),
]
