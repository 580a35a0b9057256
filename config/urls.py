from csp.decorators import csp_exempt
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from accounts.views import sign_in
from billing import urls as billing_urls
from billing.usage.gateway import usage_view
from config import middleware
from config.api import api
from config.health import health, ready
from gateway_console import views
from keys import views as keys_views
from keys.authorize import authorize_view
from keys.leak_api import leaks_view

# What only machines call (load balancers, the gateway, secret scanners) answers JSON no browser
# renders: no Content-Security-Policy is built for it, which cost ~60 µs a request on the hot
# path.
machine = csp_exempt()


def machine_call(view):
    """A view that machines call with their own credentials: no browser policy, and past the
    browser's middleware (config.middleware.MachineCallMiddleware)."""
    return middleware.skips_browser_middleware(machine(view))


urlpatterns = [
    # What machines call comes first: Django tries the patterns in order, and the console's
    # pages before these cost the gateway's calls some 45 failed matches each.
    path("healthz", machine(health), name="health"),
    path("readyz", machine(ready), name="ready"),
    path("api/v1/gateway/authorize", machine_call(authorize_view), name="gateway-authorize"),
    # Envoy's ext_authz appends the client's path to its path_prefix.
    re_path(r"^api/v1/gateway/authorize/", machine_call(authorize_view)),
    path("api/v1/gateway/usage", machine_call(usage_view), name="gateway-usage"),
    path("api/v1/secret-scanning/leaks", machine_call(leaks_view), name="secret-scanning-leaks"),
    path("", views.home, name="home"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="sign-out"),
    path("orgs/switch/", views.switch_org, name="switch-org"),
    path("no-org/", views.no_org, name="no-org"),
    # People and access: sign-in, the account pages, invitations and members.
    path("", include("accounts.urls")),
    # Billing's teams and alerts pages.
    path("", include(billing_urls.top_level)),
    path("admin-tokens/", views.admin_token_list, name="admin-tokens"),
    path("admin-tokens/new/", views.admin_token_new, name="admin-token-new"),
    path(
        "admin-tokens/<uuid:token_id>/revoke/",
        views.admin_token_revoke,
        name="admin-token-revoke",
    ),
    path("keys/", include("keys.urls")),
    path("gateway/", keys_views.gateway, name="gateway"),
    path("audit/", include("audit.urls")),
    # Billing's pages, and the caps overview of keys and teams, which keys serves.
    path(
        "billing/",
        include(
            (
                [*billing_urls.urlpatterns, path("caps/", keys_views.caps, name="caps")],
                billing_urls.app_name,
            )
        ),
    ),
    # The admin API (docs/contract.md section 4), after the gateway's own paths.
    path("api/v1/", api.urls),
    # Staff sign in where everyone does (throttled, second factor, audited), then come back.
    path("admin/login/", sign_in.admin_sign_in, name="admin-sign-in"),
    path("admin/", admin.site.urls),
]
