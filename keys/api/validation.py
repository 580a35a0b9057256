"""JSON input of the keys API, checked by the console's own KeyForm: the API cannot accept a key
that the console would refuse, and a refusal names its field as the contract's `param`."""

from datetime import UTC, datetime

from django import forms

from gateway_console.api_schemas import form_refused
from gateway_console.models import Membership
from keys.api.schemas import LIMIT_FIELDS, KeyIn, KeyPatch
from keys.forms import KeyForm, budgets_text
from keys.models import Key
from keys.services import KeySettings


class KeyApiForm(KeyForm):
    """KeyForm's rules, for JSON. Only the expiry differs: the browser sends a wall-clock time
    meant in the org's time zone, JSON a time with its own UTC offset."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].error_messages["invalid_choice"] = (
            "No such team in this organisation; give a team's id, or null for no team."
        )

    def _in_org_time(self, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("This time is out of range.") from None


def flat(payload: KeyIn | KeyPatch, *, only_given: bool) -> dict:
    values = payload.model_dump(exclude_unset=only_given)
    values.update(values.pop("limits", None) or {})
    return values


def current(key: Key) -> dict:
    return {
        "name": key.name,
        "team": key.team_id,
        "user_id": key.user_id,
        "type": key.type,
        "profile": key.profile,
        "model_scope": list(key.model_scope),
        "monthly_spend_cap": key.monthly_spend_cap,
        "cost_limit": key.cost_limit,
        "token_limit": key.token_limit,
        "limit_period": key.limit_period,
        "rpm_limit": key.rpm_limit,
        "model_budgets": dict(key.model_budgets),
        "tpm_limit": key.tpm_limit,
        "max_in_flight": key.max_in_flight,
        "expires_at": key.expires_at,
        "allowed_ips": list(key.allowed_ips),
        "rotate_every_days": key.rotate_every_days,
        "rotation_overlap_hours": key.rotation_overlap_hours,
        "increase_cap": key.increase_cap or None,
        "increase_amount": key.increase_amount,
        "increase_until": key.increase_until,
    }


def form_data(values: dict) -> dict:
    data = {}
    for field, value in values.items():
        if field in ("model_scope", "allowed_ips"):
            data[field] = "\n".join(value)
        elif field == "model_budgets":
            data[field] = budgets_text(value or {})
        elif field in ("expires_at", "increase_until", "increase_cap"):
            data[field] = value or ""
        else:
            data[field] = "" if value is None else str(value)
    return data


def validated(membership: Membership, values: dict, key: Key | None = None) -> KeySettings:
    form = KeyApiForm(form_data(values), org=membership.org, key=key)
    if not form.is_valid():
        raise form_refused(form, nested=LIMIT_FIELDS)
    return form.key_settings()
