from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth import forms as auth_forms

from gateway_console.models import Org, Role, Team, User

CODE_WIDGET = forms.TextInput(
    attrs={
        "autocomplete": "one-time-code",
        "inputmode": "numeric",
        "autofocus": True,
        "size": 12,
        "spellcheck": "false",
    }
)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=CODE_WIDGET,
        error_messages={"required": "Enter the code."},
    )


class StepUpPasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        error_messages={"required": "Enter your password."},
    )


def _team_field(org: Org) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Team.objects.filter(org=org).order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Members see the keys and usage of their teams only.",
    )


def _role_field(acting_role: str) -> forms.ChoiceField:
    choices = [
        (value, label)
        for value, label in Role.choices
        if value != Role.OWNER or acting_role == Role.OWNER
    ]
    return forms.ChoiceField(
        choices=choices,
        help_text="Owners and admins manage everything; auditors read everything; members "
        "see their teams.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Enter the email address to invite."},
    )

    def __init__(self, *args, org: Org, acting_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"] = _role_field(acting_role)
        self.fields["role"].initial = Role.MEMBER
        self.fields["teams"] = _team_field(org)


class RoleForm(forms.Form):
    def __init__(self, *args, acting_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"] = _role_field(acting_role)


class TeamsForm(forms.Form):
    def __init__(self, *args, org: Org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"] = _team_field(org)


class NewAccountForm(forms.Form):
    """The account an accepted invitation creates."""

    name = forms.CharField(max_length=150, required=False, label="Your name")
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="The password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(
                    first, User(email=self.email, name=cleaned.get("name", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class SecurityForm(forms.Form):
    require_two_factor = forms.BooleanField(
        required=False,
        label="Require two-factor for owners and admins",
        help_text="They set up an authenticator app before anything else, and sign in with "
        "a code from it.",
    )


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's, with the current password checked through authenticate(): a wrong one counts
    towards the sign-in limits (axes, gateway_console.throttle) and is recorded like a failed
    sign-in, so that a stolen session cannot guess it without end."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self):
        given = self.cleaned_data["old_password"]
        proved = authenticate(self.request, username=self.user.email, password=given)
        if proved is None or proved.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return given
