import re
import zoneinfo
from datetime import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils import timezone

from billing.limits.forms import max_in_flight_field, tpm_limit_field
from billing.limits.periods import LimitPeriod
from billing.money import MoneyField
from gateway_console.models import Team
from keys import allowlist
from keys.models import IncreasableCap, Key, KeyType
from keys.services import BatchAction, KeySettings

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$")
# "gpt-4o: 50", "llama3:8b = 12.50": a model (which may hold ':') and an amount in USD.
BUDGET_LINE = re.compile(r"^\s*(\S+?)\s*[=:\s]\s*\$?\s*([0-9][0-9.,]*)\s*$")
MAX_BUDGETS = 50
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class KeyForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What the key is for, e.g. billing-prod.")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="No team"
    )
    user_id = forms.CharField(
        label="User ID",
        max_length=200,
        required=False,
        help_text="Your own identifier of the person or service that holds the key.",
    )
    type = forms.ChoiceField(
        choices=KeyType.choices,
        initial=KeyType.STANDARD,
        widget=forms.RadioSelect,
        help_text="Canary: a key that never works, to plant where a thief would look; its "
        "first use alerts the owners and admins.",
    )
    profile = forms.CharField(
        label="Routing profile",
        max_length=100,
        required=False,
        help_text="For profile keys: the gateway's routing profile this key is bound to.",
    )
    model_scope = forms.CharField(
        label="Model scope",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Models this key may call, one per line or comma-separated. Empty: every model of the plan.",
    )
    monthly_spend_cap = MoneyField(label="Monthly spend cap (USD)", required=False)
    cost_limit = MoneyField(label="Cost limit (USD)", required=False)
    token_limit = forms.IntegerField(
        label="Token limit", required=False, min_value=1, max_value=10**15
    )
    limit_period = forms.ChoiceField(
        label="Reset period",
        choices=LimitPeriod.choices,
        initial=LimitPeriod.MONTHLY,
        help_text="When the cost and token counters start again from zero.",
    )
    rpm_limit = forms.IntegerField(
        label="Requests per minute", required=False, min_value=1, max_value=1_000_000
    )
    model_budgets = forms.CharField(
        label="Budgets per model",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "gpt-4o: 50.00"}),
        help_text="A spend cap (USD) per model for the reset period, beside the caps above: "
        "one model and amount per line, such as “gpt-4o: 50.00”.",
    )
    tpm_limit = tpm_limit_field()
    max_in_flight = max_in_flight_field()
    rotate_every_days = forms.IntegerField(
        label="Rotate every (days)",
        required=False,
        min_value=1,
        max_value=365,
        help_text="The key's admins are emailed a link to rotate it when it is due, and 7 days "
        "before. Empty: no schedule.",
    )
    rotation_overlap_hours = forms.IntegerField(
        label="Overlap (hours)",
        required=False,
        min_value=0,
        max_value=settings.ROTATION_GRACE_MAX_HOURS,
        help_text="How long the old secret keeps working after a scheduled rotation.",
    )
    increase_cap = forms.ChoiceField(
        label="Temporary increase of",
        choices=[("", "No increase"), *IncreasableCap.choices],
        required=False,
        help_text="Raise a cap for a while; it lapses by itself at the time below.",
    )
    increase_amount = MoneyField(label="By (USD)", required=False)
    increase_until = forms.DateTimeField(
        label="Until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    allowed_ips = forms.CharField(
        label="Allowed addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="IPv4 or IPv6 addresses and CIDR ranges the key may be used from, one per "
        "line or comma-separated (203.0.113.0/24, 2001:db8::/32). Empty: any address.",
    )
    expires_at = forms.DateTimeField(
        label="Expires at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args, org, key: Key | None = None, **kwargs):
        self.org = org
        self.key = key
        self.tz = zoneinfo.ZoneInfo(org.timezone)
        if key is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": key.name,
                "team": key.team_id,
                "user_id": key.user_id,
                "type": key.type,
                "profile": key.profile,
                "model_scope": "\n".join(key.model_scope),
                "monthly_spend_cap": key.monthly_spend_cap,
                "cost_limit": key.cost_limit,
                "token_limit": key.token_limit,
                "limit_period": key.limit_period,
                "rpm_limit": key.rpm_limit,
                "model_budgets": budgets_text(key.model_budgets),
                "tpm_limit": key.tpm_limit,
                "max_in_flight": key.max_in_flight,
                "allowed_ips": "\n".join(key.allowed_ips),
                "rotate_every_days": key.rotate_every_days,
                "rotation_overlap_hours": key.rotation_overlap_hours,
                "increase_cap": key.increase_cap,
                "increase_amount": key.increase_amount,
                "increase_until": self._wall_clock(key.increase_until),
                "expires_at": self._wall_clock(key.expires_at),
            }
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.filter(org=org).order_by("name")
        self.fields["expires_at"].help_text = f"In {org.timezone} time. Empty: never."
        self.fields["increase_until"].help_text = f"In {org.timezone} time."

    def _wall_clock(self, value: datetime | None) -> datetime | None:
        return value.astimezone(self.tz).replace(tzinfo=None) if value else None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name

    def clean_model_scope(self) -> tuple[str, ...]:
        raw = self.cleaned_data.get("model_scope", "")
        models_: list[str] = []
        for item in re.split(r"[\s,]+", raw):
            if not item:
                continue
            if not MODEL_NAME.match(item):
                raise forms.ValidationError(
                    f"“{item[:40]}” is not a model name (letters, digits and . _ : / @ + -)."
                )
            if item not in models_:
                models_.append(item)
        if len(models_) > 200:
            raise forms.ValidationError("At most 200 models.")
        return tuple(models_)

    def clean_model_budgets(self) -> dict[str, Decimal]:
        budgets: dict[str, Decimal] = {}
        amount = MoneyField()
        for number, line in enumerate(self.cleaned_data["model_budgets"].splitlines(), 1):
            if not line.strip():
                continue
            found = BUDGET_LINE.match(line)
            if not found or not MODEL_NAME.match(found.group(1)):
                raise forms.ValidationError(
                    f"Line {number}: write a model and an amount, such as “gpt-4o: 50.00”."
                )
            model = found.group(1)
            try:
                budgets[model] = amount.clean(found.group(2).replace(",", ""))
            except forms.ValidationError as error:
                raise forms.ValidationError(
                    f"Line {number} ({model}): {error.messages[0]}"
                ) from None
        if len(budgets) > MAX_BUDGETS:
            raise forms.ValidationError(f"At most {MAX_BUDGETS} models have a budget.")
        return budgets

    def clean_allowed_ips(self) -> tuple[str, ...]:
        try:
            return tuple(allowlist.parse(re.split(r"[\s,]+", self.cleaned_data["allowed_ips"])))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_expires_at(self) -> datetime | None:
        return self._future("expires_at")

    def clean_increase_until(self) -> datetime | None:
        return self._future("increase_until")

    def _in_org_time(self, value: datetime) -> datetime:
        # The browser sends a wall-clock time; it means the org's time zone. DateTimeField has
        # already made it aware in the current time zone (UTC): keep the wall clock, swap the zone.
        if timezone.is_aware(value):
            value = timezone.make_naive(value)
        return value.replace(tzinfo=self.tz)

    def _future(self, field: str) -> datetime | None:
        """A time field's value, refused unless in the future (or unchanged)."""
        value = self.cleaned_data.get(field)
        if value is None:
            return None
        value = self._in_org_time(value)
        unchanged = self.key is not None and getattr(self.key, field) == value
        if not unchanged and value <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return value

    def _clean_increase(self, cleaned: dict) -> None:
        cap = cleaned.get("increase_cap")
        amount, until = cleaned.get("increase_amount"), cleaned.get("increase_until")
        if not cap:
            if amount is not None or until is not None:
                self.add_error("increase_cap", "Choose the cap to raise, or empty the fields.")
            return
        if cleaned.get(cap) is None and cap not in self.errors:
            label = IncreasableCap(cap).label.lower()
            self.add_error("increase_cap", f"Set the {label} first: an increase raises it.")
        if amount is None and "increase_amount" not in self.errors:
            self.add_error("increase_amount", "By how much?")
        elif amount is not None and amount <= 0:
            self.add_error("increase_amount", "An increase is more than zero.")
        if until is None and "increase_until" not in self.errors:
            self.add_error("increase_until", "Until when? The increase lapses then.")

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("model_scope")
        outside = [m for m in cleaned.get("model_budgets") or () if scope and m not in scope]
        if outside:
            self.add_error(
                "model_budgets",
                f"{', '.join(outside)} is not in the key's model scope: the key cannot spend on "
                "it. Add it to the scope, or remove its budget.",
            )
        key_type, profile = cleaned.get("type"), (cleaned.get("profile") or "").strip()
        if key_type == KeyType.PROFILE:
            if not profile:
                self.add_error("profile", "A profile key needs the routing profile it is bound to.")
            elif not PROFILE_NAME.match(profile):
                self.add_error("profile", "Use letters, digits, dots, dashes and underscores.")
        elif profile:
            self.add_error(
                "profile",
                "Only profile keys have a routing profile; choose the type Profile or leave this empty.",
            )
        cleaned["profile"] = profile if key_type == KeyType.PROFILE else ""
        self._clean_increase(cleaned)
        return cleaned

    def key_settings(self) -> KeySettings:
        data = self.cleaned_data
        return KeySettings(
            name=data["name"],
            team=data["team"],
            user_id=data["user_id"].strip(),
            type=data["type"],
            profile=data["profile"],
            model_scope=data["model_scope"],
            monthly_spend_cap=data["monthly_spend_cap"],
            cost_limit=data["cost_limit"],
            token_limit=data["token_limit"],
            limit_period=data["limit_period"],
            rpm_limit=data["rpm_limit"],
            model_budgets=data["model_budgets"],
            tpm_limit=data["tpm_limit"],
            max_in_flight=data["max_in_flight"],
            expires_at=data["expires_at"],
            allowed_ips=data["allowed_ips"],
            rotate_every_days=data["rotate_every_days"],
            rotation_overlap_hours=data["rotation_overlap_hours"] or 0,
            increase_cap=data["increase_cap"] or "",
            increase_amount=data["increase_amount"] if data["increase_cap"] else None,
            increase_until=data["increase_until"] if data["increase_cap"] else None,
        )


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        label="Keep the old secret working for (hours)",
        min_value=0,
        max_value=settings.ROTATION_GRACE_MAX_HOURS,
        initial=0,
        help_text=f"Hours, 0 to {settings.ROTATION_GRACE_MAX_HOURS}. 0: the old secret stops working at once.",
    )


class BatchForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in BatchAction.CHOICES])
    keys = forms.MultipleChoiceField(
        choices=(), error_messages={"required": "Select at least one key."}
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="No team"
    )

    def __init__(self, *args, visible_key_ids: list[str], org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keys"].choices = [(k, k) for k in visible_key_ids]
        self.fields["team"].queryset = Team.objects.filter(org=org)


def budgets_text(budgets: dict) -> str:
    """A key's budgets as the form shows them: "gpt-4o: 50", one a line."""
    return "\n".join(f"{model}: {Decimal(cap).normalize():f}" for model, cap in budgets.items())
