from django import forms

from billing.alerts.webhook_guard import refusal
from billing.money import CENT, MoneyField


class AlertSettingsForm(forms.Form):
    """What to be told about, and how. Every threshold is optional."""

    wallet_below = MoneyField(
        label="Wallet below (USD)",
        required=False,
        help_text="Alert once a month when the balance falls below this amount. Empty: never.",
    )
    cap_at_80 = forms.BooleanField(label="A key or team reaches 80% of a cap", required=False)
    cap_at_100 = forms.BooleanField(
        label="A key or team reaches 100% of a cap",
        required=False,
        help_text="Monthly spend caps, cost and token limits; once per threshold per period.",
    )
    key_expiring = forms.BooleanField(
        label="A key or admin token expires within 7 days", required=False
    )
    email = forms.BooleanField(label="Email the organisation's owners and admins", required=False)
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="Also POST each alert here as JSON, signed with the secret below. Empty: no webhook.",
    )

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        amount = self.initial.get("wallet_below")
        if amount is not None:
            # 50.000000 as stored reads as 50.00; sub-cent digits stay.
            cents = amount.quantize(CENT)
            self.initial["wallet_below"] = cents if cents == amount else amount.normalize()
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an https:// (or http://) address.")
        refused = refusal(url) if url else None
        if refused:
            raise forms.ValidationError(refused)
        return url
