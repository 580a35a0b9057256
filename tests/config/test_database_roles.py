"""Two database roles (config.database_roles; README, *Two database roles*): bin/create-database-
roles makes an owner and an app role, `migrate` runs as the owner (MIGRATE_DATABASE_URL) and
grants; then the console works as the app role, and the app role cannot rewrite history.

Each test here uses one database made for this module, on the test run's PostgreSQL server,
created by the script as the superuser the test run connects as, and dropped at the end."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from audit.anchor_keys import encode_private_key
from config import database_roles

ROOT = Path(__file__).resolve().parents[2]
OWNER, APP = "gateway_console_owner", "gateway_console_app"
APPEND_ONLY = [
    "audit_auditevent",
    "audit_chainstart",
    "audit_platformevent",
    "billing_counterperiod",
    "billing_walletentry",
]


class Server:
    def __init__(self, settings: dict, database: str):
        self.host = settings["HOST"] or "127.0.0.1"
        self.port = str(settings["PORT"] or 5432)
        self.superuser = settings["USER"] or "postgres"
        self.database = database

    def url(self, role: str) -> str:
        return f"postgres://{role}@{self.host}:{self.port}/{self.database}"

    def connect(self, role: str) -> psycopg.Connection:
        return psycopg.connect(
            self.url(role).replace("postgres://", "postgresql://"), autocommit=True
        )

    def environment(self) -> dict:
        base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        base.update(
            PGHOST=self.host,
            PGPORT=self.port,
            PGUSER=self.superuser,
            DJANGO_SETTINGS_MODULE="tests.settings",
        )
        return base

    def run(self, command: list[str], **env) -> subprocess.CompletedProcess:
        base = {**self.environment(), **env}
        done = subprocess.run(
            command, cwd=ROOT, env=base, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done


@pytest.fixture(scope="module")
def server(django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        settings = dict(connection.settings_dict)
    server = Server(settings, f"gc_roles_{uuid.uuid4().hex[:12]}")
    server.run(["bin/create-database-roles", server.database, OWNER, APP])
    yield server
    with psycopg.connect(
        f"postgresql://{server.superuser}@{server.host}:{server.port}/postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def migrated(server):
    done = server.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        DATABASE_URL=server.url(APP),
        MIGRATE_DATABASE_URL=server.url(OWNER),
    )
    return done.stdout


@pytest.fixture(scope="module")
def walk(server, migrated, tmp_path_factory):
    """The console's day as the app role: seed_demo, the admin API, authorize and usage, sign-in
    and pages, the period reset, the pruning, anchoring and verification."""
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    done = server.run(
        [sys.executable, "-m", "tests.config.database_roles_walk", str(checkpoints)],
        DATABASE_URL=server.url(APP),
        GATEWAY_TOKENS="roles-walk-gateway-token",
        AUDIT_ANCHOR_KEY=encode_private_key(Ed25519PrivateKey.generate()),
        AUDIT_ANCHOR_DIR=str(checkpoints),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_migrate_runs_as_the_owner_and_names_the_append_only_tables(server, migrated):
    assert f"Granted {APP} the console's privileges" in migrated
    with server.connect(OWNER) as owner:
        owners = owner.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        app_owns = owner.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", [APP]
        ).fetchone()[0]
        app_role = owner.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = %s",
            [APP],
        ).fetchone()
    assert owners == [(OWNER,)]
    assert app_owns == 0
    assert app_role == (False, False, False, False)
    for table in APPEND_ONLY:
        assert table in migrated


def test_the_console_works_as_the_app_role(walk):
    assert walk["role"] == APP
    assert (walk["create"], walk["authorize"], walk["usage"]) == (201, 200, 201)
    assert (walk["rotate"], walk["disable"], walk["delete"]) == (200, 200, 200)
    assert walk["sign_in"] == 302
    assert walk["pages"] == {"/keys/": 200, "/audit/": 200}
    assert walk["reset"] > 0
    assert walk["anchored"] == 2  # the org's chain and the platform log
    assert walk["verify"] == "Every audit chain holds."


def test_the_app_role_appended_to_the_history_it_cannot_change(server, walk):
    with server.connect(APP) as app:
        counts = {
            table: app.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in APPEND_ONLY
        }
    assert counts["audit_auditevent"] > 0
    assert counts["audit_platformevent"] > 0
    assert counts["billing_walletentry"] > 0
    assert counts["billing_counterperiod"] > 0


FORBIDDEN = [
    *(f"UPDATE {table} SET id = id" for table in APPEND_ONLY),
    *(f"DELETE FROM {table}" for table in APPEND_ONLY),
    *(f"TRUNCATE {table}" for table in APPEND_ONLY),
    *(f"ALTER TABLE {table} DISABLE TRIGGER ALL" for table in APPEND_ONLY),
    *(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_change" for table in APPEND_ONLY),
    *(f"DROP TRIGGER {table}_no_change ON {table}" for table in APPEND_ONLY),
    *(f"DROP TABLE {table}" for table in APPEND_ONLY),
    "CREATE OR REPLACE FUNCTION audit_auditevent_refuse_change() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "DROP FUNCTION audit_auditevent_refuse_change() CASCADE",
    "SET session_replication_role = replica",
    "CREATE TABLE public.shadow (id int)",
    "CREATE SCHEMA shadow",
    "ALTER TABLE keys_key OWNER TO gateway_console_app",
    "TRUNCATE keys_key",
    "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
    "DELETE FROM django_migrations",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_the_app_role_cannot_rewrite_history(server, walk, statement):
    with server.connect(APP) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute(statement)


def test_the_app_roles_grants_come_back_after_each_migrate(server, walk):
    """A second migrate (a later release's) grants again, and changes nothing else."""
    with server.connect(OWNER) as owner:
        owner.execute(f"GRANT UPDATE, DELETE ON audit_auditevent TO {APP}")
    done = server.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        DATABASE_URL=server.url(APP),
        MIGRATE_DATABASE_URL=server.url(OWNER),
    )
    assert "No migrations to apply." in done.stdout
    with server.connect(APP) as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("DELETE FROM audit_auditevent")


APP_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "console",
    "USER": "console_app",
}


@pytest.mark.parametrize(
    ("url", "app", "message"),
    [
        ("postgres://console_owner@db/other", APP_DATABASE, "must name the same one"),
        ("postgres://console_app@db/console", APP_DATABASE, "use the same role"),
        (
            "postgres://console_owner@db/console",
            {**APP_DATABASE, "ENGINE": "django.db.backends.sqlite3"},
            "is for PostgreSQL",
        ),
    ],
)
def test_a_wrong_migrate_database_url_stops_the_console(url, app, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_roles.owner_database(url, app)


def test_without_migrate_database_url_nothing_changes():
    assert database_roles.owner_database("", APP_DATABASE) is None
    owner = database_roles.owner_database(
        "postgres://console_owner:pw@db:6432/console", APP_DATABASE
    )
    assert (owner["USER"], owner["PASSWORD"], owner["PORT"]) == ("console_owner", "pw", 6432)


def test_only_the_owner_may_prune_an_audit_log(server, walk):
    """An org that opted in is pruned by `prune_audit_log` as the owner; the app role's daily
    task and the command without MIGRATE_DATABASE_URL may not delete."""
    with server.connect(APP) as app:
        app.execute("UPDATE gateway_console_org SET audit_retention_days = 365")
    as_app = subprocess.run(
        [sys.executable, "manage.py", "prune_audit_log"],
        cwd=ROOT,
        env={**server.environment(), "DATABASE_URL": server.url(APP)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert as_app.returncode != 0
    assert "This database role may not delete audit events" in as_app.stderr

    done = server.run(
        [sys.executable, "manage.py", "prune_audit_log"],
        DATABASE_URL=server.url(APP),
        MIGRATE_DATABASE_URL=server.url(OWNER),
    )
    assert "org acme: nothing pruned: no event is older than" in done.stdout
