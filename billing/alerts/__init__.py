"""Spend alerts: what an org admin wants to be told about, raised once per threshold per period,
shown in the console, emailed to the org's owners and admins and optionally POSTed, signed, to
a webhook.

Raising is set-based: one query per kind of alert for every org at once (or for one org), then
one `INSERT ... ON CONFLICT DO NOTHING RETURNING` per thousand alerts. The unique constraint
`alert_once_per_period` is what makes an alert happen once: the evaluation runs every minute, on
any number of workers, and only the statement that actually inserted a row hands it to delivery.

The period of each kind of alert (the `period_start` of the constraint):

- a key's monthly spend cap, cost limit and token limit, a team's spend cap and token limit at
  80% or 100%: the current period of the counter. An ended period counts as zero, as at authorize
  (docs/contract.md section 2), so nothing is raised for it, and the next period (a new
  `period_start`) re-arms the alert. When a key passes both thresholds between two evaluations,
  only the higher one is raised.
- the wallet below an amount: once per calendar month in the org's time zone, per amount. We
  chose the month over "re-armed once the balance is back above the amount" because it needs no
  history of the balance and cannot flap: a wallet hovering around the amount alerts once a
  month, not at every top-up and debit. Changing the amount is a new threshold and alerts again.
- a key expiring within 7 days: once per key per expiry day (in the org's time zone), so moving
  the expiry to another day alerts again.
- an admin token expiring within 7 days (a live one: not revoked): once per token, the same way
  (subject the token, threshold its expiry day); a token's expiry never moves, so that is once.
  Billing reads admin tokens itself (tenancy, below it), under the `key_expiring` setting.

Alerts never hold a key's or an admin token's plaintext: the console does not have it. They
name a key or token by its name and preview (prefix and last four characters).
"""

from billing.alerts import forecasts  # noqa: F401 (fills BILLING_FORECAST_SOURCES)
from billing.alerts.common import (
    BADGE_MAX,
    EXPIRY_WARNING,
    KEY_CAPS,
    AlertSettingsRefused,
    WebhookFailed,
    register_key_alerts,
)
from billing.alerts.delivery import (
    recipients_by_org,
)
from billing.alerts.evaluation import Candidate, alerts_raised, evaluate, raise_now
from billing.alerts.models import AlertKind
from billing.alerts.selectors import (
    alerts_of,
    mark_alerts_seen,
    seen_alert_id,
    unseen_alert_count,
    watching,
)
from billing.alerts.services import (
    SETTINGS_FIELDS,
    alert_settings_of,
    regenerate_webhook_secret,
    update_alert_settings,
)

__all__ = [
    "BADGE_MAX",
    "EXPIRY_WARNING",
    "KEY_CAPS",
    "SETTINGS_FIELDS",
    "AlertKind",
    "AlertSettingsRefused",
    "Candidate",
    "WebhookFailed",
    "alert_settings_of",
    "alerts_of",
    "alerts_raised",
    "evaluate",
    "mark_alerts_seen",
    "raise_now",
    "recipients_by_org",
    "regenerate_webhook_secret",
    "register_key_alerts",
    "seen_alert_id",
    "unseen_alert_count",
    "update_alert_settings",
    "watching",
]
