from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from gateway_console import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.SignInView.as_view(), name="sign-in"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="sign-out"),
    path("orgs/switch/", views.switch_org, name="switch-org"),
    path("no-org/", views.no_org, name="no-org"),
    path("teams/", views.team_list, name="teams"),
    path("teams/new/", views.team_new, name="team-new"),
    path("members/", views.member_list, name="members"),
    path("keys/", include("keys.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]
