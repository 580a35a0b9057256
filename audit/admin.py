from django.contrib import admin

from audit.models import AuditEvent
from gateway_console.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: events enter the log through audit.record only."""

    list_display = ["org", "seq", "occurred_at", "actor_label", "action", "target_label"]
    list_filter = ["action", "org"]
    search_fields = ["actor_label", "target_label", "target_id"]
