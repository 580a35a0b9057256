from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Connects, in every process (web and worker alike), the delivery of raised alerts
        # (billing.alerts.alerts_raised) and billing's part in tenancy's changes, and registers
        # the tasks of each domain with Celery (whose autodiscovery looks for billing.tasks).
        # The audit pages show amounts as money.
        from audit.display import register_formatter
        from billing.alerts import tasks as alert_tasks  # noqa: F401
        from billing.ledger import receivers  # noqa: F401
        from billing.ledger import tasks as ledger_tasks  # noqa: F401
        from billing.limits import tasks as limit_tasks  # noqa: F401
        from billing.money import show_recorded_amount

        register_formatter(
            {
                "monthly_spend_cap",
                "cost_limit",
                "spend_cap",
                "amount",
                "balance_after",
                "wallet_below",
                "increase_amount",
                # {model: amount}: each amount shown as money (audit_value)
                "model_budgets",
            },
            show_recorded_amount,
        )
