"""The production settings pass Django's deployment checks, and refuse to start without their
secrets."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "KEY_PEPPER", "DEBUG"}
        and not name.startswith(("ALLOWED_HOSTS", "SECURE_", "DJANGO_", "AUDIT_ANCHOR_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),
        KEY_PEPPER=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="console.example.com",
        CONSOLE_VAR_DIR=str(tmp_path),
        # Audit anchoring on: without a key check --deploy warns (audit.W001). Any 32 random
        # bytes are an Ed25519 private key.
        AUDIT_ANCHOR_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    assert len(env["SECRET_KEY"]) == 64
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_finds_nothing_to_warn_about(production_env):
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_settings_refuse_to_load_without_a_secret_key(production_env):
    del production_env["SECRET_KEY"]

    result = _run(["-c", "import config.settings"], production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_settings_refuse_to_load_without_a_key_pepper(production_env):
    del production_env["KEY_PEPPER"]

    result = _run(["-c", "import config.settings"], production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the KEY_PEPPER environment variable" in result.stderr


def test_with_https_the_cookies_carry_the_host_prefix_and_no_script_reads_them(production_env):
    result = _run(
        [
            "-c",
            "import config.settings as s; print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME,"
            " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
            " s.CSRF_COOKIE_HTTPONLY)",
        ],
        production_env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "__Host-session",
        "__Host-csrftoken",
        "True",
        "True",
        "True",
        "True",
    ]
