"""The Hygiene page (keys.hygiene): what wants attention, each with its fix. The batch fixes go
through the key list's batch action and its confirmation (keys.views.key_batch), one audited
event for all; rotating goes through each key's own rotate page (step-up, shown once)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from gateway_console.roles import role_required
from keys import hygiene


@role_required("reader")
def hygiene_page(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    now = timezone.now()
    found = hygiene.findings(org, now)
    people = next(f.rows for f in found if f.code == "no_two_factor")
    score = hygiene.score(org, now, people)
    if score != org.hygiene_score:  # the key list shows what this page shows
        type(org).objects.filter(pk=org.pk).update(hygiene_score=score)
    context = {
        "findings": found,
        "score": score,
        "open": sum(1 for finding in found if finding.count),
    }
    return render(request, "keys/hygiene.html", context)
