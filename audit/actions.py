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
    "keys.disabled": "disabled keys",
    "keys.enabled": "enabled keys",
    "keys.deleted": "deleted keys",
    "keys.moved": "moved keys to a team",
    "keys.imported": "imported keys in bulk",
    "team.updated": "changed a team",
    "team.deleted": "deleted a team",
    "admin_token.created": "created an admin token",
    "admin_token.revoked": "revoked an admin token",
    "wallet.topped_up": "topped up the wallet",
    "wallet.adjusted": "adjusted the wallet",
    "wallet.refunded": "refunded to the wallet",
    "alerts.updated": "changed the alert settings",
}


def describe(action: str) -> str:
    return ACTIONS.get(action, action)


# The kinds of target an event can name (the target model's name): a target id is looked up
# under each, so that the (org, target_type, target_id, seq) index serves it.
TARGET_TYPES: tuple[str, ...] = ("key", "team", "admintoken", "membership", "org")
