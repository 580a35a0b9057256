"""Reading the settings from the environment (README, Configuration): typed, and refused at
startup when a value cannot be right."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_count(name: str, what: str) -> int:
    """A whole number of `what`, 0 or more (0 when unset)."""
    raw = os.environ.get(name, "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(f"{name} is the number of {what}: 0 or more, not {raw!r}.")
    return value


def required_secret(name: str, dev_default: str, *, debug: bool) -> str:
    # A development default is fine on a laptop; with DEBUG off a missing secret is a
    # deployment mistake, so refuse to start rather than run with a known value.
    value = os.environ.get(name)
    if value:
        return value
    if debug:
        return dev_default
    raise ImproperlyConfigured(f"Set the {name} environment variable (required when DEBUG is off).")
