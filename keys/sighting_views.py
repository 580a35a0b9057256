"""The key page's offer to allow an address the key was seen from (keys.sightings): confirmed,
then one `key.updated` event (keys.services.allow_addresses)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from audit import Actor
from gateway_console.roles import role_required
from keys import selectors, services
from keys.models import KeyType
from keys.services import KeyActionRefused


@role_required("admin")
@require_http_methods(["GET", "POST"])
def key_allow_address(request: HttpRequest, key_id) -> HttpResponse:
    """The key page's offer: allow an address it was seen from in the last 7 days, or all of
    those not allowed yet (`address=all`)."""
    key = selectors.key_for(request.membership, key_id)
    wanted = (request.POST if request.method == "POST" else request.GET).get("address", "")
    seen = selectors.key_sightings(key, now=timezone.now())
    addresses = sorted(
        {s.address for s in seen if s.address and not s.listed and wanted in ("all", s.address)}
    )
    if key.type == KeyType.CANARY or not addresses:
        messages.error(request, "No address seen in the last 7 days is left to allow.")
        return redirect("keys:detail", key_id=key.pk)
    if request.method == "POST":
        try:
            services.allow_addresses(
                key=key, actor=Actor.from_request(request), addresses=addresses
            )
        except KeyActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, f"{key.name} may now be used from {', '.join(addresses)}.")
        return redirect("keys:detail", key_id=key.pk)
    context = {"key": key, "addresses": addresses, "wanted": wanted}
    return render(request, "keys/confirm_allow.html", context)
