from django import forms
from django.contrib.auth.forms import AuthenticationForm


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
