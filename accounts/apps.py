from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and access"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts import receivers, sign_in_events  # noqa: F401 (receivers connect)

        user_logged_in.connect(sign_in_events.on_signed_in, dispatch_uid="accounts-signed-in")
        user_login_failed.connect(sign_in_events.on_failed, dispatch_uid="accounts-failed")
        user_locked_out.connect(sign_in_events.on_locked_out, dispatch_uid="accounts-locked-out")
