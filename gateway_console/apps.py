from django.apps import AppConfig


class GatewayConsoleConfig(AppConfig):
    name = "gateway_console"
    verbose_name = "Organisations"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from gateway_console import throttle

        user_login_failed.connect(throttle.on_failure, dispatch_uid="throttle-failure")
        user_logged_in.connect(throttle.on_success, dispatch_uid="throttle-success")
