from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from gateway_console.limits import LimitPeriod


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        "invalid_login": "That email and password do not match an account. Both are case-sensitive except the email.",
        "inactive": "This account is switched off. Ask an admin of your organisation.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class TeamForm(forms.Form):
    name = forms.CharField(max_length=120)


class AdminTokenForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="What the token is for, e.g. terraform or the nightly report.",
        error_messages={"required": "Give the token a name."},
    )
    read_only = forms.BooleanField(
        label="Read-only",
        required=False,
        help_text="Read-only tokens can read keys, usage and the audit log, and change nothing.",
    )


class TeamLimitsForm(forms.Form):
    """Limits shared by all of a team's keys; empty means none."""

    spend_cap = forms.DecimalField(
        label="Spend cap (USD)",
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000000"),
        decimal_places=6,
        max_digits=18,
        help_text="What all of the team's keys together may spend per period.",
    )
    token_limit = forms.IntegerField(
        label="Token limit", required=False, min_value=1, max_value=10**15
    )
    limit_period = forms.ChoiceField(
        label="Reset period",
        choices=LimitPeriod.choices,
        help_text="When the team's spend and token counters start again from zero.",
    )
    rpm_limit = forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=1,
        max_value=1_000_000,
        help_text="For all of the team's keys together, over any rolling 60 seconds.",
    )
