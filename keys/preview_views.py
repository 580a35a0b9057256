"""The key form's "What would this have refused?" (keys.preview): the form's settings replayed
against the key's last 30 days, shown under the form. Saves nothing."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from gateway_console.roles import role_required
from keys import preview, selectors
from keys.forms import KeyForm


@role_required("admin")
@require_POST
def key_preview(request: HttpRequest, key_id) -> HttpResponse:
    key = selectors.key_for(request.membership, key_id)
    form = KeyForm(request.POST, org=request.membership.org, key=key)
    result = None
    if form.is_valid():
        result = preview.replay(key, form.key_settings(), now=timezone.now())
    context = {"key": key, "form": form, "preview": result, "previewed": True}
    if request.htmx:
        return render(request, "keys/_preview.html", context)
    return render(request, "keys/edit.html", context)
