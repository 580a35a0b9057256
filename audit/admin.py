from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: events enter the log through audit.record only."""

    list_display = ["org", "seq", "occurred_at", "actor_label", "action", "target_label"]
    list_filter = ["action", "org"]
    search_fields = ["actor_label", "target_label", "target_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
