"""The console's "Report a leaked key" form (keys.leaks): anyone signed in pastes a key they
found; if it is one the console issued, it is disabled and its org alerted. The answer is the
same whether it was or not, so the form tells nobody which tokens are real keys."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from gateway_console.roles import membership_required
from keys import leaks

THANKS = (
    "Thank you. If that is a key this console issued, it is now disabled, and its organisation's "
    "owners and admins have been told where it was found."
)


class LeakReportForm(forms.Form):
    key = forms.CharField(
        label="The key you found",
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    url = forms.URLField(
        label="Where you found it",
        assume_scheme="https",
        required=False,
        max_length=500,
        help_text="A link to the page, commit or paste, if there is one.",
    )


@membership_required
@require_http_methods(["GET", "POST"])
def report_leak(request: HttpRequest) -> HttpResponse:
    form = LeakReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        leak = leaks.Leak(form.cleaned_data["key"].strip(), form.cleaned_data["url"], "console")
        leaks.report([leak], via="console")
        messages.success(request, THANKS)
        return redirect("keys:report-leak")
    return render(request, "keys/report_leak.html", {"form": form})
