from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Connects, in every process (web and worker alike), the delivery of raised alerts
        # (billing.alerts.alerts_raised) and billing's part in tenancy's changes.
        # The audit pages show amounts as money.
        from audit.display import register_formatter
        from billing import receivers, tasks  # noqa: F401
        from billing.money import show_recorded_amount

        register_formatter(
            {
                "monthly_spend_cap",
                "cost_limit",
                "spend_cap",
                "amount",
                "balance_after",
                "wallet_below",
            },
            show_recorded_amount,
        )
