from django.contrib import admin

from gateway_console.admin import ReadOnlyAdmin
from keys.models import Key


@admin.register(Key)
class KeyAdmin(ReadOnlyAdmin):
    """Read-only for platform staff: keys change through the console, which audits them."""

    list_display = ["name", "org", "team", "status", "created_at", "last_used_at"]
    list_filter = ["status", "type", "org"]
    search_fields = ["name", "display_prefix"]
    exclude = ["secret_hash", "grace_secret_hash"]
