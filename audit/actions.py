"""The display text of every action code, in one place (pretix's way)."""

ACTIONS: dict[str, str] = {
    "org.created": "created the organisation",
    "member.added": "added a member",
    "team.created": "created a team",
    "key.created": "created a key",
    "key.updated": "changed a key's settings",
    "key.rotated": "rotated a key",
    "key.disabled": "disabled a key",
    "key.enabled": "enabled a key",
    "key.deleted": "deleted a key",
    "key.increase_lapsed": "a key's temporary increase lapsed",
    "key.canary_tripped": "a canary key was used",
    "key.leaked": "a key was reported leaked and disabled",
    "keys.disabled": "disabled keys",
    "keys.enabled": "enabled keys",
    "keys.deleted": "deleted keys",
    "keys.moved": "moved keys to a team",
    "keys.expiry_set": "gave keys an expiry",
    "keys.imported": "imported keys in bulk",
    "team.updated": "changed a team",
    "team.deleted": "deleted a team",
    "admin_token.created": "created an admin token",
    "admin_token.revoked": "revoked an admin token",
    "wallet.topped_up": "topped up the wallet",
    "wallet.adjusted": "adjusted the wallet",
    "wallet.refunded": "refunded to the wallet",
    "alerts.updated": "changed the alert settings",
    "audit.retention_changed": "changed how long the audit log is kept",
    "audit.pruned": "exported and pruned the oldest audit events",
    # People and access (accounts): members, invitations, and what happens to a person, which
    # is written in each org they belong to.
    "member.invited": "invited a person",
    "invitation.resent": "sent an invitation again",
    "invitation.revoked": "withdrew an invitation",
    "member.joined": "joined from an invitation",
    "member.role_changed": "changed a member's role",
    "member.teams_changed": "changed a member's teams",
    "member.removed": "removed a member",
    "org.security_changed": "changed the sign-in security",
    "user.signed_in": "signed in",
    "user.sign_in_failed": "failed to sign in",
    "user.locked_out": "was locked out of signing in",
    "user.password_changed": "changed their password",
    "user.password_reset": "reset their password by email",
    "user.two_factor_enabled": "turned on two-factor",
    "user.two_factor_removed": "removed their two-factor",
    "user.recovery_codes_renewed": "made new recovery codes",
    "user.sessions_ended": "signed out their other sessions",
    # Platform staff in Django admin (audit.staff); `changes` holds every field that changed.
    "org.created_by_staff": "created the organisation in Django admin",
    "org.changed_by_staff": "changed the organisation in Django admin",
    "team.created_by_staff": "created a team in Django admin",
    "team.changed_by_staff": "changed a team in Django admin",
    "team.deleted_by_staff": "deleted a team in Django admin",
    "membership.created_by_staff": "added a member in Django admin",
    "membership.changed_by_staff": "changed a membership in Django admin",
    "membership.deleted_by_staff": "removed a member in Django admin",
}

# The platform log's actions: staff changes in Django admin to what belongs to no org.
PLATFORM_ACTIONS: dict[str, str] = {
    "user.created_by_staff": "created a user",
    "user.changed_by_staff": "changed a user",
    "user.password_changed_by_staff": "changed a user's password",
    "user.deleted_by_staff": "deleted a user",
    "group.created_by_staff": "created a group of permissions",
    "group.changed_by_staff": "changed a group of permissions",
    "group.deleted_by_staff": "deleted a group of permissions",
    "plan.created_by_staff": "created a plan",
    "plan.changed_by_staff": "changed a plan",
    "plan.deleted_by_staff": "deleted a plan",
    "model_price.created_by_staff": "priced a model",
    "model_price.changed_by_staff": "changed a model's price",
    "model_price.deleted_by_staff": "deleted a model's price",
}


def describe(action: str) -> str:
    return ACTIONS.get(action) or PLATFORM_ACTIONS.get(action, action)


# The kinds of target an event can name (the target model's name): a target id is looked up
# under each, so that the (org, target_type, target_id, seq) index serves it.
TARGET_TYPES: tuple[str, ...] = (
    "key",
    "team",
    "admintoken",
    "membership",
    "org",
    "invitation",
)
