from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from django.urls import reverse

        from audit.selectors import register_target_page
        from billing.alerts import register_key_alerts
        from billing.usage.services import register_key_facts
        from keys.alerts import (
            expiring_key_alerts,
            key_cap_alerts,
            key_names,
            key_runs_out_alerts,
            rotation_due_alerts,
        )
        from keys.models import Key
        from keys.selectors import key_facts

        # An audit event about a key links to the key's page while the key exists.
        register_target_page("key", Key, lambda pk: reverse("keys:detail", args=[pk]))
        # Usage (billing) records events of keys, which it may not import.
        register_key_facts(key_facts)
        # Alerts (billing) are raised about keys too; evaluate runs the sources by their order,
        # between billing's wallet (10) and team caps (30) alerts.
        register_key_alerts(
            sources=[(20, key_cap_alerts), (40, expiring_key_alerts), (45, rotation_due_alerts)],
            names=key_names,
            forecasts=[(20, key_runs_out_alerts)],
        )
