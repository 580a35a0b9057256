from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Connects the delivery of raised alerts (billing.alerts.alerts_raised) in every
        # process, web and worker alike.
        from billing import tasks  # noqa: F401
