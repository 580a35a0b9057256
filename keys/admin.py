from django.contrib import admin

from keys.models import Key


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):
    """Read-only for platform staff: keys change through the console, which audits them."""

    list_display = ["name", "org", "team", "status", "created_at", "last_used_at"]
    list_filter = ["status", "type", "org"]
    search_fields = ["name", "display_prefix"]
    exclude = ["secret_hash", "grace_secret_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
