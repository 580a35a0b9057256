"""The API key format of docs/contract.md section 1.

`sk-gw-` + 40 base62 characters of `secrets` randomness + 6 base62 characters of checksum
(CRC32 of everything before it): 52 characters. The checksum lets anyone reject a mistyped or
made-up key without a database query.
"""

import hashlib
import hmac
import secrets
import string
import zlib

from django.conf import settings

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 40
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = 12


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_secret(prefix: str | None = None) -> str:
    prefix = settings.KEY_PREFIX if prefix is None else prefix
    body = prefix + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def is_well_formed(candidate: str, prefix: str | None = None) -> bool:
    """Shape and checksum only: no database, constant work for any input."""
    prefix = settings.KEY_PREFIX if prefix is None else prefix
    if len(candidate) != len(prefix) + RANDOM_LENGTH + CHECKSUM_LENGTH:
        return False
    if not candidate.startswith(prefix):
        return False
    rest = candidate[len(prefix) :]
    if any(char not in BASE62 for char in rest):
        return False
    body, given = candidate[:-CHECKSUM_LENGTH], candidate[-CHECKSUM_LENGTH:]
    return hmac.compare_digest(checksum(body), given)


def secret_hash(plaintext: str) -> str:
    """HMAC-SHA256(KEY_PEPPER, key): the only form in which a key is stored."""
    return hmac.new(settings.KEY_PEPPER.encode(), plaintext.encode(), hashlib.sha256).hexdigest()


def display_prefix(plaintext: str) -> str:
    return plaintext[:DISPLAY_PREFIX_LENGTH]


def last4(plaintext: str) -> str:
    return plaintext[-4:]


class ShownAsPreview:
    """For a model that holds a secret's hash (a key, an admin token): how lists and the audit
    log name it, by its name and the secret's first and last characters, never the secret."""

    name: str
    display_prefix: str
    last4: str

    @property
    def preview(self) -> str:
        return f"{self.display_prefix}…{self.last4}"

    @property
    def audit_label(self) -> str:
        return f"{self.name} ({self.preview})"
