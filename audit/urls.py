from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="list"),
    path("export.<str:fmt>", views.event_export, name="export"),
    path("check-chain/", views.chain_check, name="check-chain"),
    path("retention/", views.retention, name="retention"),
]
