"""What platform staff change in Django admin, in the audit log.

A ModelAdmin mixin records each add, change and delete inside the admin's own transaction (the
change form and the delete page run in one; a bulk delete gets its own here), with the staff
member as the actor (role `staff`) and every field that changed as `changes`, read from the
database before and after: foreign keys and many-to-many fields by their labels, nothing for a
form that does not validate, nothing for a save that changed nothing. A secret field (a
password's hash; any field named like a secret) is recorded as "set" or "changed", never its
value.

An org's objects go to that org's chain (OrgObjectAudited); what belongs to no org (users,
plans, model prices) goes to the platform log (PlatformObjectAudited). The action is
`<noun>.created_by_staff`, `….changed_by_staff` or `….deleted_by_staff` (audit.actions).
"""

import dataclasses
from collections.abc import Iterable
from typing import Any

from django.db import models, router, transaction
from django.http import HttpRequest

from audit import diff, services
from gateway_console.actors import Actor
from gateway_console.models import Org

STAFF_ROLE = "staff"


def staff_actor(request: HttpRequest) -> Actor:
    """The staff member as an actor: an org's log shows them as staff, not in whatever role
    they may hold in some org."""
    return dataclasses.replace(Actor.from_request(request), role=STAFF_ROLE)


def stored_fields(obj: models.Model, *, lock: bool = False) -> dict[str, Any]:
    """The object's editable fields as the database holds them now (locked until the
    transaction ends with `lock`): related objects by their labels, many-to-many sorted; {}
    when it is not stored."""
    rows = type(obj)._default_manager.filter(pk=obj.pk)
    stored = (rows.select_for_update() if lock else rows).first()
    if stored is None:
        return {}
    values: dict[str, Any] = {}
    for field in stored._meta.concrete_fields:
        if not field.editable or field.primary_key:
            continue
        if field.is_relation:
            related = getattr(stored, field.name)
            values[field.name] = None if related is None else str(related)
        else:
            values[field.name] = field.value_from_object(stored)
    for field in stored._meta.many_to_many:
        if field.editable:
            values[field.name] = sorted(str(each) for each in getattr(stored, field.name).all())
    return values


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


# A field whose name holds one of these is secret whether or not an admin says so: a field
# added later (a hash, a TOTP secret) never reaches an event by being forgotten.
SECRET_WORDS = ("password", "secret", "hash", "pepper")


def changes_between(
    before: dict[str, Any], after: dict[str, Any], *, secret: Iterable[str] = ()
) -> dict[str, dict]:
    """{field: {"before": …, "after": …}} for each field whose value differs (a field one side
    lacks was None; blank and None are the same). A secret field (`secret`, or a name holding
    one of SECRET_WORDS) that changed is recorded without its values: "set" when it had none,
    "changed" otherwise; nothing when it goes with its object."""
    secret = set(secret)
    changes: dict[str, dict] = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if name in secret or any(word in name for word in SECRET_WORDS):
            if new is not None and old != new:
                changes[name] = {"before": None, "after": "set" if old is None else "changed"}
        elif not (_blank(old) and _blank(new)):
            changes.update(diff({name: old}, {name: new}))
    return changes


class StaffChangesAudited:
    """The mixin's common part; use OrgObjectAudited or PlatformObjectAudited."""

    # The action's noun (`team` in team.changed_by_staff); the model's name when empty.
    audit_noun = ""
    # Fields recorded as "set" or "changed", never with their values.
    audit_secret_fields: tuple[str, ...] = ()

    def append_event(
        self, request: HttpRequest, obj, action: str, changes: dict, data: dict | None = None
    ) -> None:
        raise NotImplementedError

    def audit_action(self, verb: str) -> str:
        return f"{self.audit_noun or self.model._meta.model_name}.{verb}_by_staff"

    def save_model(self, request, obj, form, change):
        # Read before the save: the form has already changed `obj` in memory.
        obj._staff_audit_before = stored_fields(obj, lock=True) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        """After the many-to-many fields are saved too: one event for the whole change."""
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = obj.__dict__.pop("_staff_audit_before", {})
        changes = changes_between(before, stored_fields(obj), secret=self.audit_secret_fields)
        if changes:
            verb = "changed" if change else "created"
            self.append_event(request, obj, self.audit_action(verb), changes)

    def record_deletion(self, request: HttpRequest, obj) -> None:
        """The event of deleting `obj`, written before it goes: every field it had."""
        before = stored_fields(obj, lock=True)
        changes = changes_between(before, {}, secret=self.audit_secret_fields)
        self.append_event(request, obj, self.audit_action("deleted"), changes)

    def delete_model(self, request, obj):
        self.record_deletion(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The bulk delete action runs outside the admin's transactions: this is its own.
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in queryset:
                self.record_deletion(request, obj)
            super().delete_queryset(request, queryset)


class OrgObjectAudited(StaffChangesAudited):
    """For an org's objects: each event goes to that org's chain (audit.record)."""

    def org_of(self, obj) -> Org:
        return obj.org

    def append_event(self, request, obj, action, changes, data=None):
        services.record(
            org=self.org_of(obj),
            actor=staff_actor(request),
            action=action,
            target=obj,
            changes=changes,
            data=data,
        )


class PlatformObjectAudited(StaffChangesAudited):
    """For what belongs to no org: each event goes to the platform log (audit.record_platform)."""

    def append_event(self, request, obj, action, changes, data=None):
        services.record_platform(
            actor=staff_actor(request), action=action, target=obj, changes=changes, data=data
        )
