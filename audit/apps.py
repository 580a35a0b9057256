from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Tenancy (the layer below) records its changes through this.
        import audit
        from audit import checks  # noqa: F401  (the anchoring's system checks)
        from gateway_console import recording

        recording.register(audit.record)
