from django import forms
from django.contrib.auth.forms import AuthenticationForm

from gateway_console.admin_tokens import (
    EXPIRY_DEFAULT,
    EXPIRY_MAX,
    EXPIRY_MIN,
    EXPIRY_RANGE_MESSAGE,
)


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
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        initial=EXPIRY_DEFAULT.days,
        min_value=EXPIRY_MIN.days,
        max_value=EXPIRY_MAX.days,
        help_text=(
            f"From {EXPIRY_MIN.days} to {EXPIRY_MAX.days} days; empty: {EXPIRY_DEFAULT.days}. "
            "The token stops working then: replace it before."
        ),
        error_messages={
            "invalid": "Enter a whole number of days.",
            "min_value": EXPIRY_RANGE_MESSAGE,
            "max_value": EXPIRY_RANGE_MESSAGE,
        },
    )

    def clean_expires_in_days(self) -> int:
        days = self.cleaned_data["expires_in_days"]
        return EXPIRY_DEFAULT.days if days is None else days
