from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # Tenancy (the layer below) records its changes through this.
        import audit
        from gateway_console import recording

        recording.register(audit.record)
