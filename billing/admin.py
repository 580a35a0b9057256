from django.contrib import admin

from billing.models import Counter, Hold, ModelPrice, Plan, UsageEvent, Wallet


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "input_per_million",
        "output_per_million",
        "max_output_tokens",
        "updated_at",
    ]
    search_fields = ["model"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "price_multiplier"]
    filter_horizontal = ["models"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money moves through services (audited) and the gateway API, never by hand here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["org", "balance_micros", "held_micros", "updated_at"]


@admin.register(Counter)
class CounterAdmin(ReadOnlyAdmin):
    list_display = [
        "org",
        "key",
        "team",
        "kind",
        "period_start",
        "period_end",
        "spend_micros",
        "tokens",
        "held_micros",
    ]
    list_filter = ["kind"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "org",
        "key",
        "amount_micros",
        "created_at",
        "expires_at",
        "closed_at",
    ]


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "org",
        "key",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_micros",
        "occurred_at",
    ]
    search_fields = ["request_id"]
