"""The keys of the audit chains' checkpoints (audit.anchor): Ed25519, kept out of the database.

The private key (`AUDIT_ANCHOR_KEY`) signs; only the worker that runs the beat task needs it.
Its public key verifies: `AUDIT_ANCHOR_PUBLIC_KEY` (comma-separated, to list an old key while
rotating), or derived from the private key. A key is given as base64 of its 32 raw bytes (what
`manage.py audit_anchor_key` prints) or as PEM (`openssl genpkey -algorithm ed25519`).
"""

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AnchorKeyError(ImproperlyConfigured):
    """A configured anchor key cannot be read as an Ed25519 key."""


def _text(value: str) -> str:
    # A PEM key in an environment variable often arrives with its line breaks escaped.
    return value.strip().replace("\\n", "\n")


def _raw(value: str, name: str) -> bytes:
    padded = value.replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise AnchorKeyError(f"{name} is neither base64 nor PEM.") from None


def load_private_key(value: str, name: str = "AUDIT_ANCHOR_KEY") -> Ed25519PrivateKey:
    value = _text(value)
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(value.encode(), password=None)
        else:
            raw = _raw(value, name)
            if len(raw) == 32:
                key = Ed25519PrivateKey.from_private_bytes(raw)
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as error:
        raise AnchorKeyError(f"{name} is not a readable private key ({error}).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorKeyError(f"{name} is not an Ed25519 private key.")
    return key


def load_public_key(value: str, name: str = "AUDIT_ANCHOR_PUBLIC_KEY") -> Ed25519PublicKey:
    value = _text(value)
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            raw = _raw(value, name)
            if len(raw) == 32:
                key = Ed25519PublicKey.from_public_bytes(raw)
            else:
                key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError) as error:
        raise AnchorKeyError(f"{name} is not a readable public key ({error}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorKeyError(f"{name} is not an Ed25519 public key.")
    return key


def encode_private_key(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes_raw()).decode()


def encode_public_key(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """What a checkpoint names its key by: the start of SHA-256 of the raw public key."""
    return hashlib.sha256(key.public_bytes_raw()).hexdigest()[:16]


def signing_key() -> Ed25519PrivateKey | None:
    """The configured private key; None when anchoring is off (no AUDIT_ANCHOR_KEY)."""
    value = getattr(settings, "AUDIT_ANCHOR_KEY", "")
    return load_private_key(value) if value.strip() else None


def public_keys(value: str, name: str) -> dict[str, Ed25519PublicKey]:
    """The comma-separated public keys of `value`, by key id."""
    keys = [load_public_key(each, name) for each in value.split(",") if each.strip()]
    return {key_id(key): key for key in keys}


def verifying_keys(given: str = "") -> dict[str, Ed25519PublicKey]:
    """The public keys a checkpoint may be signed with, by key id: those `given` (the
    command's --public-key), else AUDIT_ANCHOR_PUBLIC_KEY's and the public key of
    AUDIT_ANCHOR_KEY."""
    if given.strip():
        return public_keys(given, "--public-key")
    keys = public_keys(getattr(settings, "AUDIT_ANCHOR_PUBLIC_KEY", ""), "AUDIT_ANCHOR_PUBLIC_KEY")
    if (private := signing_key()) is not None:
        keys.setdefault(key_id(private.public_key()), private.public_key())
    return keys


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload)).decode()


def signature_holds(key: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
