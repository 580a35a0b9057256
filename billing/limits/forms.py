"""The forms of teams and their limits, shared by the pages and the admin API."""

from django import forms

from billing.limits.periods import LimitPeriod
from billing.money import MoneyField


class TeamForm(forms.Form):
    # Unique in the org, whatever the case: the services refuse a name another team has.
    name = forms.CharField(max_length=120, error_messages={"required": "A team needs a name."})


def tpm_limit_field(whose: str = "") -> forms.IntegerField:
    """Tokens per minute, of a key or (`whose`: a sentence first) a team."""
    return forms.IntegerField(
        label="Tokens per minute",
        required=False,
        min_value=1,
        max_value=10**9,
        help_text=f"{whose}The tokens of the requests of any rolling 60 seconds, each at its "
        "worst case until its usage arrives. Needs a gateway that reports usage.",
    )


def max_in_flight_field(whose: str = "") -> forms.IntegerField:
    """Requests in flight, of a key or (`whose`: a sentence first) a team."""
    return forms.IntegerField(
        label="Requests in flight",
        required=False,
        min_value=1,
        max_value=100_000,
        help_text=f"{whose}Requests at once, from authorize to each one's usage event. Needs a "
        "gateway that reports usage.",
    )


class TeamLimitsForm(forms.Form):
    """Limits shared by all of a team's keys; empty means none."""

    spend_cap = MoneyField(
        label="Spend cap (USD)",
        required=False,
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
    tpm_limit = tpm_limit_field("For all of the team's keys together. ")
    max_in_flight = max_in_flight_field("For all of the team's keys together. ")


class TeamSettingsForm(TeamForm, TeamLimitsForm):
    """The team's edit page: its name and its limits, saved together (one audit event)."""

    field_order = [
        "name",
        "spend_cap",
        "token_limit",
        "limit_period",
        "rpm_limit",
        "tpm_limit",
        "max_in_flight",
    ]
