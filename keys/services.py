"""Every change to keys. Each service is one transaction that records exactly one audit event."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit import Actor
from billing.limits import model_budgets, resets
from billing.limits.models import CounterKind
from gateway_console import secret, show_once
from gateway_console.models import Org, Team
from keys import allowlist
from keys.key_settings import SETTINGS_FIELDS, KeySettings, settings_snapshot, stored
from keys.models import Key, KeyStatus, SecretShown

__all__ = ["SETTINGS_FIELDS", "KeySettings"]  # with the services, as the forms and tests use them


class KeyActionRefused(Exception):
    """The action cannot be done to this key (or these keys) in their present state."""


class AlreadyShown(Exception):
    """A form that reveals a secret was submitted a second time (a reload, the back button)."""

    def __init__(self, key: Key):
        super().__init__("This secret was already shown once.")
        self.key = key


def _new_secret_for(key: Key) -> str:
    plaintext = secret.new_secret()
    key.secret_hash = secret.secret_hash(plaintext)
    key.display_prefix = secret.display_prefix(plaintext)
    key.last4 = secret.last4(plaintext)
    return plaintext


def _claim_nonce(nonce: str | None, key: Key) -> None:
    earlier = show_once.claim(SecretShown, nonce, key)
    if earlier is not None:
        raise AlreadyShown(earlier)


def _check_team(org: Org, team: Team | None) -> None:
    if team is not None and team.org_id != org.pk:
        raise KeyActionRefused("That team belongs to another organisation.")


def _new_key(org: Org, actor: Actor, settings_: KeySettings, now: datetime) -> tuple[Key, str]:
    """A key as the console makes one, not yet saved, and its plaintext."""
    _check_team(org, settings_.team)
    key = Key(org=org, created_by=actor.user, created_at=now, updated_at=now)
    for field in SETTINGS_FIELDS:
        value = getattr(settings_, field)
        setattr(key, field, stored(field, value))
    return key, _new_secret_for(key)


@transaction.atomic
def create_key(
    *, org: Org, actor: Actor, settings_: KeySettings, nonce: str | None = None
) -> tuple[Key, str]:
    """Creates a key and returns it with its plaintext, which is never stored."""
    if (earlier := show_once.made_before(SecretShown, nonce)) is not None:
        raise AlreadyShown(earlier)
    key, plaintext = _new_key(org, actor, settings_, timezone.now())
    key.save(force_insert=True)
    if key.model_budgets:
        model_budgets.lock_key_counters(
            org_id=org.pk, key_id=key.pk, tz=org.timezone, now=key.created_at
        )
        _keep_budget_counters(key)
    _claim_nonce(nonce, key)
    audit.record(
        org=org,
        actor=actor,
        action="key.created",
        target=key,
        changes=audit.diff(
            {},
            {f: v for f, v in settings_snapshot(key).items() if v not in (None, "", [], (), {})},
        ),
    )
    return key, plaintext


@transaction.atomic
def import_keys(
    *, org: Org, actor: Actor, settings_list: Sequence[KeySettings], batch_size: int = 2000
) -> list[tuple[Key, str]]:
    """Creates many keys at once (a migration from another gateway, the demo data), each as
    create_key makes it, in INSERTs of `batch_size`, with one `keys.imported` event naming how
    many. Returns each key with its plaintext, which is never stored."""
    if not settings_list:
        raise KeyActionRefused("There are no keys to import.")
    now = timezone.now()
    made = [_new_key(org, actor, settings_, now) for settings_ in settings_list]
    Key.objects.bulk_create([key for key, _ in made], batch_size=batch_size)
    audit.record(
        org=org,
        actor=actor,
        action="keys.imported",
        data={"count": len(made), "first": made[0][0].name, "last": made[-1][0].name},
    )
    return made


def _locked(key: Key) -> Key:
    # Row lock: two admins acting on one key at once are applied one after the other. Only the
    # key's row: PostgreSQL cannot lock the nullable side of the outer join to its team.
    return (
        Key.objects.select_for_update(of=("self",))
        .select_related("team", "org")
        .get(pk=key.pk, org_id=key.org_id)
    )


@transaction.atomic
def update_key(*, key: Key, actor: Actor, settings_: KeySettings) -> Key:
    key = _locked(key)
    if key.is_deleted:
        raise KeyActionRefused("A deleted key cannot be changed.")
    _check_team(key.org, settings_.team)
    before = settings_snapshot(key)
    for field in SETTINGS_FIELDS:
        value = getattr(settings_, field)
        setattr(key, field, stored(field, value))
    changes = audit.diff(before, settings_snapshot(key))
    if not changes:
        return key
    key.updated_at = timezone.now()
    key.save()
    if "limit_period" in changes or "model_budgets" in changes:
        # Before any counter changes: the key's counters, in every writer's lock order.
        model_budgets.lock_key_counters(
            org_id=key.org_id, key_id=key.pk, tz=key.org.timezone, now=key.updated_at
        )
    if "model_budgets" in changes:
        _keep_budget_counters(key)
    if "limit_period" in changes:
        # A new reset period starts now; the running one closes into the history.
        resets.restart_period_now(
            owner="key_id",
            owner_id=key.pk,
            kind=CounterKind.LIMIT,
            period=key.limit_period,
            tz=key.org.timezone,
            now=key.updated_at,
        )
        model_budgets.restart_now(
            key_id=key.pk, period=key.limit_period, tz=key.org.timezone, now=key.updated_at
        )
    audit.record(org=key.org, actor=actor, action="key.updated", target=key, changes=changes)
    return key


def _keep_budget_counters(key: Key) -> None:
    """One counter for each of the key's per-model budgets (billing.limits.model_budgets)."""
    model_budgets.set_budgets(
        org_id=key.org_id,
        key_id=key.pk,
        models=key.model_budgets,
        period=key.limit_period,
        tz=key.org.timezone,
        now=timezone.now(),
    )


@transaction.atomic
def allow_addresses(*, key: Key, actor: Actor, addresses: Sequence[str]) -> Key:
    """Adds addresses the key was seen from to its allowlist (the key page's offer); one
    key.updated event, none when they were all allowed already."""
    key = _locked(key)
    if key.is_deleted:
        raise KeyActionRefused("A deleted key cannot be changed.")
    before = settings_snapshot(key)
    key.allowed_ips = allowlist.parse([*key.allowed_ips, *addresses])
    changes = audit.diff(before, settings_snapshot(key))
    if changes:
        key.updated_at = timezone.now()
        key.save(update_fields=["allowed_ips", "updated_at"])
        audit.record(org=key.org, actor=actor, action="key.updated", target=key, changes=changes)
    return key


@transaction.atomic
def rotate_key(
    *, key: Key, actor: Actor, grace_hours: int = 0, nonce: str | None = None
) -> tuple[Key, str]:
    """A new secret with the same settings. The old one stops working at once, or when the
    grace period (at most ROTATION_GRACE_MAX_HOURS) ends."""
    key = _locked(key)
    if key.is_deleted:
        raise KeyActionRefused("A deleted key cannot be rotated.")
    if not 0 <= grace_hours <= settings.ROTATION_GRACE_MAX_HOURS:
        raise KeyActionRefused(
            f"The grace period is 0 to {settings.ROTATION_GRACE_MAX_HOURS} hours."
        )
    _claim_nonce(nonce, key)
    old_hash, old_preview = key.secret_hash, key.preview
    now = timezone.now()
    plaintext = _new_secret_for(key)
    if grace_hours:
        key.grace_secret_hash, key.grace_until = old_hash, now + timedelta(hours=grace_hours)
    else:
        key.grace_secret_hash, key.grace_until = None, None
    key.rotated_at = key.updated_at = now
    key.save()
    audit.record(
        org=key.org,
        actor=actor,
        action="key.rotated",
        target=key,
        changes={"preview": {"before": old_preview, "after": key.preview}},
        data={
            "grace_hours": grace_hours,
            "old_secret_valid_until": key.grace_until.isoformat() if key.grace_until else None,
        },
    )
    return key, plaintext


def change_status(key: Key, status: str, now: datetime) -> None:
    """The one set of rules for a key's status, one key or many: when it was disabled or
    deleted, and a deleted key keeps no old secret of a rotation."""
    if status == KeyStatus.DISABLED and key.status != KeyStatus.DISABLED:
        key.disabled_at = now
    if status == KeyStatus.DELETED:
        key.deleted_at = now
        # The old secret of a rotation must not outlive the key.
        key.grace_secret_hash, key.grace_until = None, None
    key.status = status
    key.updated_at = now


def _set_status(key: Key, actor: Actor, status: str, action: str) -> Key:
    key = _locked(key)
    if key.is_deleted:
        raise KeyActionRefused("This key is deleted; deleting is permanent.")
    if key.status == status:
        raise KeyActionRefused(f"This key is already {KeyStatus(status).label.lower()}.")
    before = key.status
    change_status(key, status, timezone.now())
    key.save()
    audit.record(
        org=key.org,
        actor=actor,
        action=action,
        target=key,
        changes={"status": {"before": before, "after": status}},
    )
    return key


@transaction.atomic
def disable_key(*, key: Key, actor: Actor) -> Key:
    return _set_status(key, actor, KeyStatus.DISABLED, "key.disabled")


@transaction.atomic
def enable_key(*, key: Key, actor: Actor) -> Key:
    return _set_status(key, actor, KeyStatus.ACTIVE, "key.enabled")


@transaction.atomic
def delete_key(*, key: Key, actor: Actor) -> Key:
    """Permanent: the key answers like an unknown key; its rows stay for history."""
    return _set_status(key, actor, KeyStatus.DELETED, "key.deleted")


class BatchAction:
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    MOVE = "move"
    # Give the keys without an expiry one, EXPIRE_IN_DAYS ahead (the hygiene page's fix).
    EXPIRE = "expire"
    EXPIRE_IN_DAYS = 90
    CHOICES = (DISABLE, ENABLE, DELETE, MOVE, EXPIRE)
    STATUS = {DISABLE: KeyStatus.DISABLED, ENABLE: KeyStatus.ACTIVE, DELETE: KeyStatus.DELETED}
    EVENTS = {
        DISABLE: "keys.disabled",
        ENABLE: "keys.enabled",
        DELETE: "keys.deleted",
        MOVE: "keys.moved",
        EXPIRE: "keys.expiry_set",
    }


@transaction.atomic
def change_keys(
    *, org: Org, actor: Actor, key_ids: list, action: str, team: Team | None = None
) -> list[Key]:
    """Disables, enables, deletes or moves the keys named, all or none, with one audit event
    naming them all."""
    if action not in BatchAction.CHOICES:
        raise KeyActionRefused(f"Unknown batch action {action!r}.")
    if not key_ids:
        raise KeyActionRefused("Select at least one key.")
    if action == BatchAction.MOVE:
        _check_team(org, team)
    keys = list(
        Key.objects.select_for_update()
        .filter(org=org, pk__in=key_ids)
        .exclude(status=KeyStatus.DELETED)
        .order_by("name", "id")
    )
    if len(keys) != len(set(map(str, key_ids))):
        raise KeyActionRefused(
            "Some of the selected keys no longer exist or are deleted; nothing was changed."
        )
    now = timezone.now()
    named = []
    for key in keys:
        entry = {"id": str(key.pk), "label": key.audit_label}
        if action == BatchAction.MOVE:
            entry["before"] = key.team.name if key.team_id else None
            key.team = team
            key.updated_at = now
        elif action == BatchAction.EXPIRE:
            entry["before"] = key.expires_at.isoformat() if key.expires_at else None
            key.expires_at = key.expires_at or now + timedelta(days=BatchAction.EXPIRE_IN_DAYS)
            key.updated_at = now
        else:
            entry["before"] = key.status
            change_status(key, BatchAction.STATUS[action], now)
        named.append(entry)
    Key.objects.bulk_update(
        keys,
        [
            "team",
            "status",
            "disabled_at",
            "deleted_at",
            "grace_secret_hash",
            "grace_until",
            "expires_at",
            "updated_at",
        ],
    )
    data = {"named_keys": named, "count": len(named)}
    if action == BatchAction.MOVE:
        data["team"] = team.name if team else None
    audit.record(org=org, actor=actor, action=BatchAction.EVENTS[action], data=data)
    return keys


def forget_ended_rotation_grace(*, now: datetime | None = None) -> int:
    """Drops the old secrets whose grace period has ended (they already stopped working)."""
    now = now or timezone.now()
    return Key.objects.filter(grace_until__lte=now).update(grace_secret_hash=None, grace_until=None)
