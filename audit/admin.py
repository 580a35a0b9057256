from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction

from audit import services
from audit.models import AuditEvent, PlatformEvent
from audit.staff import (
    OrgObjectAudited,
    PlatformObjectAudited,
    changes_between,
    staff_actor,
    stored_fields,
)
from gateway_console import admin as tenancy
from gateway_console.models import Membership, Org, Team, User
from gateway_console.signals import org_created


@admin.register(AuditEvent)
class AuditEventAdmin(tenancy.ReadOnlyAdmin):
    """Read-only: events enter the log through audit.record only."""

    list_display = ["org", "seq", "occurred_at", "actor_label", "action", "target_label"]
    list_filter = ["action", "org"]
    search_fields = ["actor_label", "target_label", "target_id"]


@admin.register(PlatformEvent)
class PlatformEventAdmin(tenancy.ReadOnlyAdmin):
    """The platform log, read-only, for superusers alone: other staff get 403, and do not see
    it in the admin's index, whatever permissions they were given."""

    list_display = ["seq", "occurred_at", "actor_label", "action", "target_type", "target_label"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "target_id"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self.has_view_permission(request)


# Tenancy's models, registered by gateway_console.admin, which may not import the log above it,
# and Django's groups (whose permissions make staff): registered again here with what records
# every staff change (audit.staff).
for _model in (User, Org, Team, Membership, Group):
    admin.site.unregister(_model)


@admin.register(Org)
class AuditedOrgAdmin(OrgObjectAudited, tenancy.OrgAdmin):
    """An org is never deleted here: its audit log holds on to it (PROTECT) and its history
    outlives anything staff could tidy up."""

    def org_of(self, obj: Org) -> Org:
        return obj

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # As create_org: billing opens the new org's wallet, in this transaction.
            org_created.send(sender=type(self), org=obj)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class AuditedTeamAdmin(OrgObjectAudited, tenancy.TeamAdmin):
    pass


@admin.register(Membership)
class AuditedMembershipAdmin(OrgObjectAudited, tenancy.MembershipAdmin):
    pass


@admin.register(User)
class AuditedUserAdmin(PlatformObjectAudited, tenancy.UserAdmin):
    """A user belongs to no org: the platform log. Their password is recorded as changed,
    never as its hash; deleting a user also removes them from their orgs, which each org's
    log then shows."""

    audit_secret_fields = ("password",)

    def record_deletion(self, request, obj):
        super().record_deletion(request, obj)
        for membership in obj.memberships.select_related("org", "user"):
            services.record(
                org=membership.org,
                actor=staff_actor(request),
                action="membership.deleted_by_staff",
                target=membership,
                changes=changes_between(stored_fields(membership), {}),
                data={"reason": "the user was deleted"},
            )

    def user_change_password(self, request, id, form_url=""):
        """Django's password page saves outside the admin's transactions: here it runs in one,
        with the event."""
        with transaction.atomic(using=router.db_for_write(self.model)):
            user = self.get_object(request, unquote(id))
            before = user.password if user else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                user.refresh_from_db(fields=["password"])
                if user.password != before:
                    after = "changed" if user.has_usable_password() else "disabled"
                    self.append_event(
                        request,
                        user,
                        self.audit_action("password_changed"),
                        {"password": {"before": None, "after": after}},
                    )
        return response


@admin.register(Group)
class AuditedGroupAdmin(PlatformObjectAudited, GroupAdmin):
    pass
