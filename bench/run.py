"""`make bench`: the production server setup on this machine, measured by a load generator on
loopback. Writes bench/results.json and prints a table. Ratios are measured in one run.

Setup: gunicorn (sync workers, DEBUG off) on PostgreSQL and Redis; wrk for throughput, an
open-loop client at a fixed rate for latency; a Python client posting usage batches of 1,000.
Then the page figures on the large data set, in a database of their own (bench/pages.py;
BENCH_PAGES_SCALE shrinks it, BENCH_PAGES=0 leaves them out).
"""

import collections
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gateway
import pages

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PORT = int(os.environ.get("BENCH_PORT", "8765"))
# make soak (bench/soak.py) builds its own database with the same setup.
DB_NAME = os.environ.get("BENCH_DATABASE", "gateway_console_bench")
GATEWAY_TOKEN = "bench-gateway-token"
KEYS = int(os.environ.get("BENCH_KEYS", "10000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
# authorize_controls_vs_none_ratio compares two sets of this many keys of their own: one with
# no control at all, one with every per-key control (seed_compared_keys).
COMPARED_KEYS = 1000
# The bench's authorize requests come from this gateway client (GATEWAY_PROXY_COUNT=0: the
# last X-Forwarded-For entry), inside the controlled keys' allowlist; authorize records both.
CLIENT_IP = "203.0.113.7"
CLIENT_USER_AGENT = "OpenAI/Python 1.54.0"

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
    "DEBUG": "0",
    "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
    "KEY_PEPPER": "bench-pepper-" + secrets.token_urlsafe(20),
    "GATEWAY_TOKENS": GATEWAY_TOKEN,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "ERROR",
    "CONN_MAX_AGE": "600",
}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))


def sh(*args: str, **kwargs) -> str:
    return subprocess.run(
        args, check=True, capture_output=True, text=True, env=ENV, **kwargs
    ).stdout


def prepare_database() -> None:
    sh(
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-q",
        "-c",
        f"DROP DATABASE IF EXISTS {DB_NAME}",
    )
    sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"CREATE DATABASE {DB_NAME}")
    sh(str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "--no-input", "-v0", cwd=ROOT)


def seed() -> dict:
    """An org with a plan, prices, a funded wallet, two teams and KEYS keys (bulk, as the
    console stores them: hash, display prefix, last four)."""
    import django

    django.setup()
    from decimal import Decimal

    from billing.ledger.models import ModelPrice, Plan, Wallet
    from gateway_console import secret
    from gateway_console.models import Org, Team
    from keys.models import Key

    plan = Plan.objects.create(name="bench", price_multiplier=Decimal("1.20"))
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16384,
    )
    org = Org.objects.create(name="Bench", slug="bench", plan=plan, timezone="Europe/Berlin")
    Wallet.objects.create(org=org, balance_micros=10**15)
    teams = [Team.objects.create(org=org, name=f"team-{i}") for i in range(2)]
    plaintexts = []
    rows = []
    for i in range(KEYS):
        plaintext = secret.new_secret()
        plaintexts.append(plaintext)
        rows.append(
            Key(
                org=org,
                team=teams[i % 2],
                name=f"bench-{i}",
                secret_hash=secret.secret_hash(plaintext),
                display_prefix=secret.display_prefix(plaintext),
                last4=secret.last4(plaintext),
                monthly_spend_cap=Decimal("1000000") if i % 2 else None,
            )
        )
    Key.objects.bulk_create(rows, batch_size=2000)
    ids = list(Key.objects.filter(org=org).order_by("name").values_list("id", flat=True))
    return {"plaintexts": plaintexts, "key_ids": [str(i) for i in ids]}


def seed_compared_keys() -> dict:
    """COMPARED_KEYS keys with no control, and COMPARED_KEYS with every per-key control set so
    that the bench's requests pass: an allowlist with CLIENT_IP, a model scope with the model
    asked for, caps, budgets per model, a token limit and a rate limit that no run reaches, a running temporary
    increase, an expiry, and a rotation schedule (which authorize does not read). In seed()'s
    org, apart from its keys (`make soak` seeds those too), in bulk like them. Tokens per
    minute and requests in flight are left out: they hold on a gateway that reports usage
    (a hold in the database per request, and a usage event to end it), which these requests
    do not; authorize_hold figures measure that path."""
    from decimal import Decimal

    from gateway_console import secret
    from gateway_console.models import Org
    from keys.models import IncreasableCap, Key

    org = Org.objects.get(slug="bench")
    teams = list(org.teams.order_by("name"))
    now = datetime.now(UTC)
    every_control = {
        "allowed_ips": ["198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"],
        "model_scope": ["gpt-4o", "gpt-4o-mini"],
        "monthly_spend_cap": Decimal("1000000"),
        "cost_limit": Decimal("1000000"),
        "token_limit": 10**12,
        "rpm_limit": 1_000_000,
        "model_budgets": {"gpt-4o": "1000000.000000", "gpt-4o-mini": "1000000.000000"},
        "increase_cap": IncreasableCap.MONTHLY_SPEND_CAP,
        "increase_amount": Decimal("1000"),
        "increase_until": now + timedelta(days=30),
        "expires_at": now + timedelta(days=365),
        "rotate_every_days": 90,
        "rotation_overlap_hours": 24,
    }
    plaintexts: dict[str, list[str]] = {"none": [], "controls": []}
    rows = []
    for kind, controls in (("none", {}), ("controls", every_control)):
        for i in range(COMPARED_KEYS):
            plaintext = secret.new_secret()
            plaintexts[kind].append(plaintext)
            rows.append(
                Key(
                    org=org,
                    team=teams[i % 2],
                    name=f"bench-{kind}-{i}",
                    secret_hash=secret.secret_hash(plaintext),
                    display_prefix=secret.display_prefix(plaintext),
                    last4=secret.last4(plaintext),
                    **controls,
                )
            )
    Key.objects.bulk_create(rows, batch_size=2000)
    return plaintexts


class Server:
    """gunicorn as deployed. The gateway API runs sync workers (the lowest latency for short
    requests); the console's pages run gthread workers, which keep signalling the arbiter while
    they stream a long export (a sync worker would be killed by the 30 s worker timeout)."""

    def __init__(self, env: dict | None = None, worker_class: str = "sync", extra_args: tuple = ()):
        self.process = None
        # Its log in a file, never a pipe that nobody reads: under a long run Django's warnings
        # (one a 4xx) would fill the pipe and block the workers.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.env = env or ENV
        self.worker_class = worker_class
        self.extra_args = list(extra_args)

    def __enter__(self):
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "config.wsgi",
                "-b",
                f"127.0.0.1:{PORT}",
                "-w",
                str(WORKERS),
                "-k",
                self.worker_class,
                *(["--threads", "4"] if self.worker_class == "gthread" else []),
                "--log-level",
                "warning",
                *self.extra_args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


WRK_SCRIPT = """
local keys = {%s}
local i = 0
request = function()
  i = i %% #keys + 1
  return wrk.format("POST", "/api/v1/gateway/authorize", {
    ["X-Gateway-Token"] = "%s",
    ["Authorization"] = "Bearer " .. keys[i],
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = "%s",
    ["User-Agent"] = "%s",
  }, '{"model":"gpt-4o-mini"}')
end
"""


def authorize_script(name: str, plaintexts: list[str]) -> Path:
    """A wrk script that authorizes with each of `plaintexts` in turn, from CLIENT_IP."""
    path = ROOT / "bench" / f".authorize-{name}.lua"
    keys_lua = ",".join(f'"{p}"' for p in plaintexts)
    path.write_text(WRK_SCRIPT % (keys_lua, GATEWAY_TOKEN, CLIENT_IP, CLIENT_USER_AGENT))
    return path


def wrk(path_or_script: str, *, script: bool) -> float:
    args = ["wrk", "-t", "2", "-c", "16", "-d", f"{DURATION}s", "--latency"]
    if script:
        args += ["-s", path_or_script, f"http://127.0.0.1:{PORT}/"]
    else:
        args += [f"http://127.0.0.1:{PORT}{path_or_script}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def measure_controls(none_script: Path, controls_script: Path) -> dict:
    """authorize for the keys with every control against the keys with none, each with wrk
    as authorize_rps is. Each set is warmed up first, so that neither pays alone for its keys'
    first sighting and last-used write of the minute; then none, controls, controls, none, each
    figure the mean of its two runs, so that a drift in the machine's other load weighs on both
    alike."""
    wrk(str(none_script), script=True)
    wrk(str(controls_script), script=True)
    runs = {"none": [], "controls": []}
    for kind, path in (
        ("none", none_script),
        ("controls", controls_script),
        ("controls", controls_script),
        ("none", none_script),
    ):
        runs[kind].append(wrk(str(path), script=True))
    print(f"  requests/s: {runs}", flush=True)
    none = sum(runs["none"]) / 2
    controls = sum(runs["controls"]) / 2
    return {
        "authorize_no_controls_rps": round(none, 2),
        "authorize_controls_rps": round(controls, 2),
        "authorize_controls_vs_none_ratio": round(controls / none, 3),
    }


def open_loop(
    plaintexts: list[str],
    rate: int,
    seconds: int,
    connections: int = 8,
    *,
    port: int = PORT,
    path: str = "/api/v1/gateway/authorize",
    body: str = json.dumps({"model": "gpt-4o-mini"}),
    gateway_token: bool = True,
    stop_at: float | None = None,
    request_ids: list | None = None,
) -> tuple[list[float], collections.Counter, float]:
    """An open-loop load at a fixed arrival rate: request i is due at start + i/rate, with the
    key plaintexts[i % len(plaintexts)], and its latency counts from when it was due, so a slow
    answer that delays the next request shows up in the figures (no coordinated omission).
    Returns the latencies (s), the count of each status (0: no answer, the connection failed)
    and the time taken. No request leaves after `stop_at` (time.perf_counter). `request_ids`,
    if given, gets the X-Gateway-Request-Id of each 200 answer (None where it had none), so
    that a soak can match the answers with their usage events."""
    total = rate * seconds
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    start = time.perf_counter() + 0.5
    base = {"Content-Type": "application/json"}
    if gateway_token:
        base["X-Gateway-Token"] = GATEWAY_TOKEN

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if stop_at is not None and time.perf_counter() > stop_at:
                return
            headers = {**base, "Authorization": f"Bearer {plaintexts[i % len(plaintexts)]}"}
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                request_id = response.getheader("X-Gateway-Request-Id")
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            done = time.perf_counter()
            with lock:
                statuses[status] += 1
                if status:
                    latencies.append(done - due)
                if status == 200 and request_ids is not None:
                    request_ids.append(request_id)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, time.perf_counter() - start


def fixed_rate_latency(
    plaintext: str,
    rate: int,
    seconds: int,
    connections: int = 8,
    **options,
) -> dict:
    """p50 and p99 of an open-loop run (open_loop) with one key, every answer a 200.
    Authorize by default; a gateway's path with `port`, `path`, `body` and `gateway_token`."""
    latencies, statuses, elapsed = open_loop([plaintext], rate, seconds, connections, **options)
    failures = {status: n for status, n in statuses.items() if status != 200}
    if failures:
        raise RuntimeError(f"fixed-rate run saw non-200 answers (status: count): {failures}")
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "rate": round(rate * seconds / elapsed, 1),
    }


def post_usage(key_ids: list[str], *, writers: int, batches: int, size: int) -> tuple[float, int]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    run = secrets.token_hex(4)
    failures = []

    def writer(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        for b in range(batches):
            events = [
                {
                    "request_id": f"{run}-w{n}-b{b}-e{e}",
                    "key_id": key_ids[(n * 7919 + b * 104729 + e) % 200],
                    "model": "gpt-4o-mini",
                    "input_tokens": 1000 + e % 97,
                    "output_tokens": 200 + e % 13,
                    "status_code": 200,
                    "latency_ms": 800,
                    "occurred_at": now,
                }
                for e in range(size)
            ]
            conn.request(
                "POST",
                "/api/v1/gateway/usage",
                body=json.dumps({"events": events}),
                headers={"X-Gateway-Token": GATEWAY_TOKEN, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = json.loads(response.read())
            if response.status != 200 or body["recorded"] != size:
                failures.append((response.status, body.get("recorded")))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"usage batches failed: {failures[:3]}")
    return elapsed, writers * batches * size


def check_counters_exact() -> bool:
    """Every key's counters, every team's and the wallet equal the sums of the usage events."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FROM billing_counter c
            JOIN (SELECT key_id, sum(cost_micros) s, sum(input_tokens + output_tokens) t
                  FROM billing_usageevent GROUP BY key_id) u ON u.key_id = c.key_id
            WHERE c.spend_micros <> u.s OR c.tokens <> u.t""")
        key_mismatches = cursor.fetchone()[0]
        cursor.execute("""
            SELECT count(*) FROM billing_counter c
            JOIN (SELECT team_id, sum(cost_micros) s FROM billing_usageevent GROUP BY team_id) u
              ON u.team_id = c.team_id
            WHERE c.spend_micros <> u.s""")
        team_mismatches = cursor.fetchone()[0]
        cursor.execute("""
            SELECT w.balance_micros = 1000000000000000 - (SELECT coalesce(sum(cost_micros), 0) FROM billing_usageevent),
                   w.held_micros FROM billing_wallet w""")
        wallet_ok, held = cursor.fetchone()
    return key_mismatches == 0 and team_mismatches == 0 and bool(wallet_ok) and held == 0


def _wait_for_quiet(holds, *, quiet: float = 1.0, limit: float = 15.0) -> None:
    """Returns once the count of `holds` has not changed for `quiet` seconds (or after
    `limit` seconds)."""
    deadline = time.monotonic() + limit
    count, since = holds.count(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.2)
        now_count = holds.count()
        if now_count != count:
            count, since = now_count, time.monotonic()


def measure_gateway(data: dict) -> dict:
    """bench/gateway.py against this server, and the proof that nothing was lost: every request
    of the fixed-rate run (whose client waits for every answer) comes back as a usage event, and
    settles its hold."""
    from django.utils import timezone

    from billing.limits.models import Hold
    from billing.usage.models import UsageEvent

    with gateway.Gateways(PORT, GATEWAY_TOKEN, data["plaintexts"][:1000]) as gateways:
        figures = gateways.throughput(DURATION)
        # Requests that wrk abandoned when it stopped may still be on their way through the
        # gateway to authorize: the fixed-rate run starts counting once no new hold appears.
        _wait_for_quiet(Hold.objects.all())
        started = timezone.now()
        seconds = max(DURATION, 15)
        figures.update(gateways.latency(seconds, fixed_rate_latency))
        run_holds = Hold.objects.filter(created_at__gte=started)
        deadline = time.monotonic() + 30
        while run_holds.filter(closed_at__isnull=True).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        reporter_log = gateways.reporter_log()
    ids = set(run_holds.values_list("request_id", flat=True))
    reported = UsageEvent.objects.filter(request_id__in=ids).count()
    expected = gateway.RATE * seconds
    figures["gateway_requests_reported"] = f"{reported}/{expected}"
    figures["gateway_usage_complete"] = (
        len(ids) == reported == expected and not run_holds.filter(closed_at__isnull=True).exists()
    )
    if not figures["gateway_usage_complete"] and reporter_log:
        print(f"The usage reporters logged:\n{reporter_log[-3000:]}", flush=True)
    return figures


RESET_KEYS = 100_000


def seed_ended_periods(keys: int) -> None:
    """A new org (Europe/Berlin) whose `keys` keys (half monthly, half daily, across two
    weekly teams) each have a month and a limit counter, and whose teams have one, all in a
    period that ended an hour ago. Set-based (generate_series), then ANALYZE, as autovacuum
    would after such a load."""
    from django.db import connection

    label = secrets.token_hex(4)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gateway_console_org"
            " (id, name, slug, timezone, require_two_factor, created_at)"
            " VALUES (gen_random_uuid(), %s, %s, 'Europe/Berlin', false, now()) RETURNING id",
            [f"Resets {label}", f"resets-{label}"],
        )
        org_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO gateway_console_team (id, org_id, name, limit_period, created_at)"
            " SELECT gen_random_uuid(), %s, 'resets-' || g, 'weekly', now()"
            " FROM generate_series(1, 2) g",
            [org_id],
        )
        cursor.execute(
            "INSERT INTO keys_key (id, org_id, team_id, name, user_id, type, profile, secret_hash,"
            " display_prefix, last4, status, model_scope, allowed_ips, increase_cap, leaked_url,"
            " rotation_overlap_hours, limit_period, model_budgets, created_at, updated_at)"
            " SELECT gen_random_uuid(), %(org)s,"
            " (SELECT id FROM gateway_console_team WHERE org_id = %(org)s"
            "  ORDER BY name OFFSET g %% 2 LIMIT 1),"
            " 'reset-' || g, '', 'standard', '', md5(%(label)s || g) || md5(g || %(label)s),"
            " 'sk-gw-reset', 'abcd', 'active', '[]', '[]', '', '', 0,"
            " CASE WHEN g %% 2 = 0 THEN 'monthly' ELSE 'daily' END, '{}', now(), now()"
            " FROM generate_series(1, %(keys)s) g",
            {"org": org_id, "label": label, "keys": keys},
        )
        cursor.execute(
            "INSERT INTO billing_counter (org_id, key_id, team_id, kind, period_start, period_end,"
            " spend_micros, tokens, held_micros)"
            " SELECT k.org_id, k.id, NULL, kind, now() - interval '40 days', now() - interval '1 hour',"
            " 1000 + (random() * 1000)::int, 100, 0"
            " FROM keys_key k CROSS JOIN (VALUES ('month'), ('limit')) AS kinds (kind)"
            " WHERE k.org_id = %(org)s"
            " UNION ALL"
            " SELECT org_id, NULL, id, 'limit', now() - interval '40 days', now() - interval '1 hour',"
            " 5000, 500, 0 FROM gateway_console_team WHERE org_id = %(org)s",
            {"org": org_id},
        )
        for table in ("keys_key", "gateway_console_team", "billing_counter"):
            cursor.execute(f"ANALYZE {table}")


def measure_resets() -> dict:
    """reset_periods_due once for 1,000 keys and once for 100,000: its time, and its statement
    count for both (which must not differ). Run after the server's figures, so that the
    authorize and usage figures see the database as before."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.limits.resets import reset_periods_due

    figures = {}
    for keys, name in ((1_000, "1k"), (RESET_KEYS, "100k")):
        seed_ended_periods(keys)
        with CaptureQueriesContext(connection) as statements:
            started = time.perf_counter()
            moved = reset_periods_due(now=datetime.now(UTC))
            elapsed = time.perf_counter() - started
        if moved != 2 * keys + 2:
            raise RuntimeError(f"the reset moved {moved} counters, not {2 * keys + 2}")
        figures[name] = (round(elapsed, 2), len(statements))
    return {
        "reset_100k_keys_s": figures["100k"][0],
        "reset_queries_1k": figures["1k"][1],
        "reset_queries": figures["100k"][1],
    }


def measure_pages() -> dict:
    """The page figures (bench/pages.py) on the large data set, in its own database, against
    a gunicorn of their own; after every other figure."""
    scale = float(os.environ.get("BENCH_PAGES_SCALE", "1"))
    env = {**ENV, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{pages.DB_NAME}"}
    have = pages.prepare_database(env, str(ROOT / ".venv/bin/python"), ROOT, scale)
    with Server(env, worker_class="gthread"):
        figures = pages.measure(PORT, env, have)
    return {"pages_scale": scale, **figures}


def main() -> None:
    for tool in ("wrk", "psql"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run bin/install-bench-tools")
    print(f"Preparing {DB_NAME} with {KEYS + 2 * COMPARED_KEYS:,} keys…", flush=True)
    prepare_database()
    data = seed()
    compared = seed_compared_keys()
    script = authorize_script("plain", data["plaintexts"][:1000])
    none_script = authorize_script("none", compared["none"])
    controls_script = authorize_script("controls", compared["controls"])
    results: dict = {
        "measured_at": datetime.now(UTC).isoformat(),
        "keys_in_database": KEYS + 2 * COMPARED_KEYS,
        "server": f"gunicorn, {WORKERS} sync workers, DEBUG off, PostgreSQL, Redis; load generated on the same 2 cores",
    }
    try:
        with Server():
            print("Warming up…", flush=True)
            wrk("/healthz", script=False)
            wrk(str(script), script=True)
            print("Throughput: bare view, then authorize…", flush=True)
            bare = wrk("/healthz", script=False)
            authorize = wrk(str(script), script=True)
            results["bare_json_rps"] = bare
            results["authorize_rps"] = authorize
            results["authorize_vs_bare_ratio"] = round(authorize / bare, 3)
            print("Throughput: authorize with every control, and with none…", flush=True)
            results.update(measure_controls(none_script, controls_script))
            print("Latency at a fixed 200 requests/s…", flush=True)
            latency = fixed_rate_latency(data["plaintexts"][1], 200, max(DURATION, 15))
            results["authorize_p50_ms"] = round(latency["p50_ms"], 2)
            results["authorize_p99_ms"] = round(latency["p99_ms"], 2)
            results["authorize_fixed_rate_achieved_rps"] = latency["rate"]
            print("Usage batches of 1,000…", flush=True)
            post_usage(data["key_ids"], writers=1, batches=1, size=1000)  # warm-up
            elapsed, events = post_usage(data["key_ids"], writers=4, batches=5, size=1000)
            results["usage_events_per_s"] = round(events / elapsed)
            results["usage_counters_exact"] = check_counters_exact()
            print("Through Traefik, without and with the console…", flush=True)
            results.update(measure_gateway(data))
    finally:
        for path in (script, none_script, controls_script):
            path.unlink(missing_ok=True)
    print(f"Period resets of 1,000 and {RESET_KEYS:,} keys…", flush=True)
    results.update(measure_resets())
    if os.environ.get("BENCH_PAGES", "1") != "0":
        results.update(measure_pages())

    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    targets = {
        "authorize_vs_bare_ratio": (">=", 0.6),
        "authorize_controls_vs_none_ratio": (">=", 0.9),
        "authorize_p50_ms": ("<=", 2),
        "authorize_p99_ms": ("<=", 10),
        "usage_events_per_s": (">=", 5000),
        "usage_counters_exact": ("==", True),
        "gateway_throughput_ratio": (">=", 0.5),
        "gateway_added_p99_ms": ("<=", round(2 * results.get("authorize_p99_ms", 0), 2)),
        "gateway_usage_complete": ("==", True),
        "reset_100k_keys_s": ("<", 10),
        # The statement count must not grow with the number of keys.
        "reset_queries": ("==", results["reset_queries_1k"]),
        **pages.TARGETS,
    }
    print_table(results, targets)
    print(f"\n{results['server']}\nwritten to {RESULTS.relative_to(ROOT)}")


def print_table(results: dict, targets: dict) -> None:
    """Each figure, its target and whether it met it (bench/soak.py prints its own too)."""
    print(f"\n{'figure':32} {'value':>14}  target")
    for name, value in results.items():
        if name in ("measured_at", "server", "soak_measured_at", "soak_server"):
            continue
        target = targets.get(name)
        mark = ""
        if target:
            op, bound = target
            ok = {
                ">=": value >= bound,
                "<=": value <= bound,
                "<": value < bound,
                "==": value == bound,
            }[op]
            mark = f"{op} {bound}  {'ok' if ok else 'MISSED'}"
        print(f"{name:32} {value!s:>14}  {mark}")


if __name__ == "__main__":
    main()
