from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from gateway_console.models import Membership, Org, Team, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Platform staff may look, not change: these rows change through the console's services,
    which audit them, or through the gateway's API."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Org)
class OrgAdmin(admin.ModelAdmin):
    """When an org, a team or a membership was made is history, not a setting: read-only."""

    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """A team stays in the org it was made in (its keys, counters and log are that org's)."""

    list_display = ["name", "org", "created_at"]
    list_filter = ["org"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "org"] if obj else self.readonly_fields


class MembershipAdminForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        org = data.get("org") or (self.instance.org if self.instance.org_id else None)
        teams = data.get("teams") or ()
        strangers = sorted(team.name for team in teams if org and team.org_id != org.pk)
        if strangers:
            self.add_error("teams", f"Not teams of {org}: {', '.join(strangers)}.")
        return data


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """A membership stays the same person's in the same org; its teams are that org's."""

    form = MembershipAdminForm
    list_display = ["user", "org", "role"]
    list_filter = ["role", "org"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "org", "user"] if obj else self.readonly_fields
