import hashlib
import hmac
import zlib

import pytest

from gateway_console import secret
from gateway_console.secret import BASE62
from keys.models import Key

PREFIX = "sk-gw-"


def _corrupt(key: str, index: int) -> str:
    """The key with one character at `index` replaced by another base62 character."""
    replacement = "A" if key[index] != "A" else "B"
    return key[:index] + replacement + key[index + 1 :]


def test_new_secret_is_prefix_plus_40_random_plus_6_checksum_characters():
    key = secret.new_secret()

    assert len(key) == 52
    assert key.startswith(PREFIX)
    body, check = key[:-6], key[-6:]
    assert len(body) == len(PREFIX) + 40
    assert all(char in BASE62 for char in key[len(PREFIX) :])
    assert check == secret.checksum(body)


def test_checksum_is_crc32_of_everything_before_it_in_base62():
    key = secret.new_secret()
    body, check = key[:-6], key[-6:]
    value = 0
    for char in check:
        value = value * 62 + BASE62.index(char)
    assert value == zlib.crc32(body.encode())


def test_new_secrets_differ():
    assert len({secret.new_secret() for _ in range(50)}) == 50


def test_a_new_secret_is_well_formed():
    assert secret.is_well_formed(secret.new_secret())


@pytest.mark.parametrize("cut", [1, 10])
def test_is_well_formed_rejects_a_short_key(cut):
    assert not secret.is_well_formed(secret.new_secret()[:-cut])


def test_is_well_formed_rejects_a_long_key():
    assert not secret.is_well_formed(secret.new_secret() + "A")


def test_is_well_formed_rejects_the_empty_string():
    assert not secret.is_well_formed("")


def test_is_well_formed_rejects_a_wrong_prefix_of_the_same_length():
    key = secret.new_secret()
    other = "sk-xx-" + key[len(PREFIX) :]
    # Same checksum rule, but computed over the other prefix: only the prefix is wrong.
    other = other[:-6] + secret.checksum(other[:-6])
    assert len(other) == 52
    assert not secret.is_well_formed(other)


@pytest.mark.parametrize("bad_char", ["-", "_", "!", " ", "é", "+"])
def test_is_well_formed_rejects_a_non_base62_character(bad_char):
    key = secret.new_secret()
    body = key[:10] + bad_char + key[11:-6]
    candidate = body + secret.checksum(body)
    assert len(candidate) == 52
    assert not secret.is_well_formed(candidate)


@pytest.mark.parametrize("index", [6, 20, 45, 46, 51])
def test_is_well_formed_rejects_a_single_changed_character(index):
    key = secret.new_secret()
    assert not secret.is_well_formed(_corrupt(key, index))


def test_is_well_formed_rejects_a_made_up_key_of_the_right_shape():
    assert not secret.is_well_formed(PREFIX + "A" * 46)


def test_key_prefix_setting_changes_the_prefix(settings):
    settings.KEY_PREFIX = "gk-live-"

    key = secret.new_secret()

    assert key.startswith("gk-live-")
    assert len(key) == len("gk-live-") + 46
    assert secret.is_well_formed(key)


def test_a_key_with_the_default_prefix_is_not_well_formed_under_another_prefix(settings):
    key = secret.new_secret()
    settings.KEY_PREFIX = "gk-live-"

    assert not secret.is_well_formed(key)


def test_secret_hash_is_hmac_sha256_with_the_pepper(settings):
    key = secret.new_secret()
    expected = hmac.new(settings.KEY_PEPPER.encode(), key.encode(), hashlib.sha256).hexdigest()

    assert secret.secret_hash(key) == expected
    assert len(secret.secret_hash(key)) == 64
    assert secret.secret_hash(key) != hashlib.sha256(key.encode()).hexdigest()


def test_secret_hash_changes_with_the_pepper(settings):
    key = secret.new_secret()
    before = secret.secret_hash(key)
    settings.KEY_PEPPER = "another-pepper"

    assert secret.secret_hash(key) != before


def test_preview_is_first_12_characters_ellipsis_and_last_4(org):
    key = secret.new_secret()
    row = Key(org=org, name="k", display_prefix=secret.display_prefix(key), last4=secret.last4(key))

    assert row.preview == key[:12] + "…" + key[-4:]
    assert secret.display_prefix(key) == key[:12]
    assert secret.last4(key) == key[-4:]
