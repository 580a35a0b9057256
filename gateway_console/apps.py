from django.apps import AppConfig


class GatewayConsoleConfig(AppConfig):
    name = "gateway_console"
    verbose_name = "Organisations"
