"""`make bench`: the production server setup on this machine, measured by a load generator on
loopback. Writes bench/results.json and prints a table. Ratios are measured in one run.

Setup: gunicorn (sync workers, DEBUG off) on PostgreSQL and Redis; wrk for throughput, an
open-loop client at a fixed rate for latency; a Python client posting usage batches of 1,000.
Then the page figures on the large data set, in a database of their own (bench/pages.py;
BENCH_PAGES_SCALE shrinks it, BENCH_PAGES=0 leaves them out).

Every figure has its floor, measured in the same repeat, back to back with it, on the same
server and database (bench/floors.py), and the target is the ratio of the two. Every figure is
the median of REPEATS runs, printed with its spread (bench/steady.py); the bench says whether
the machine was busy beside it (bench/machine.py).
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
from datetime import UTC, datetime
from pathlib import Path

import floors
import gateway
import machine
import pages
import seeding
import steady
import usage_load

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PORT = int(os.environ.get("BENCH_PORT", "8765"))
# make soak (bench/soak.py) builds its own database with the same setup.
DB_NAME = os.environ.get("BENCH_DATABASE", "gateway_console_bench")
GATEWAY_TOKEN = "bench-gateway-token"
KEYS = int(os.environ.get("BENCH_KEYS", "10000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
# Seconds of each closed-loop (wrk) run; 8, not 10, since issue 15 runs every figure three
# times (steady.REPEATS). Each side is warmed up once, for WARM_UP_SECONDS, before the repeats.
DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
WARM_UP_SECONDS = 4
# The fixed-rate (open-loop) runs: LATENCY_RATE requests/s for LATENCY_SECONDS each.
LATENCY_RATE = 200
LATENCY_SECONDS = max(DURATION, 10)
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
# The server's: the console's settings plus the bench's floor endpoints (bench/server_urls.py).
SERVER_ENV = {**ENV, "DJANGO_SETTINGS_MODULE": "bench.server_settings"}
sys.path.insert(0, str(ROOT))


def post_usage(key_ids: list[str], **batches) -> tuple[float, int]:
    """bench/usage_load.py's batches, to this bench's server."""
    return usage_load.post_usage(key_ids, port=PORT, token=GATEWAY_TOKEN, **batches)


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


class Server:
    """gunicorn as deployed. The gateway API runs sync workers (the lowest latency for short
    requests); the console's pages run gthread workers, which keep signalling the arbiter while
    they stream a long export (a sync worker would be killed by the 30 s worker timeout)."""

    def __init__(self, env: dict | None = None, worker_class: str = "sync", extra_args: tuple = ()):
        self.process = None
        # Its log in a file, never a pipe that nobody reads: under a long run Django's warnings
        # (one a 4xx) would fill the pipe and block the workers.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.env = env or SERVER_ENV
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
    ["User-Agent"] = "%s",%s
  }, '{"model":"gpt-4o-mini"}')
end
"""


def authorize_script(name: str, plaintexts: list[str], *, holds: bool = False) -> Path:
    """A wrk script that authorizes with each of `plaintexts` in turn, from CLIENT_IP; with
    `holds`, from a gateway that reports usage, so that each request places a hold."""
    path = ROOT / "bench" / f".authorize-{name}.lua"
    keys_lua = ",".join(f'"{p}"' for p in plaintexts)
    extra = '\n    ["X-Gateway-Reports-Usage"] = "true",' if holds else ""
    path.write_text(WRK_SCRIPT % (keys_lua, GATEWAY_TOKEN, CLIENT_IP, CLIENT_USER_AGENT, extra))
    return path


def wrk(path_or_script: str, *, script: bool, seconds: int = DURATION) -> float:
    """Requests/s of a closed-loop run: 2 threads, 16 connections, every answer a 2xx."""
    args = ["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "--latency"]
    if script:
        args += ["-s", path_or_script, f"http://127.0.0.1:{PORT}/"]
    else:
        args += [f"http://127.0.0.1:{PORT}{path_or_script}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def in_turn(repeat: int, sides: dict) -> dict:
    """Runs each side (name: a function of no argument) once and returns its figure by name:
    in the order given in even repeats and the other way round in odd ones, so that a drift in
    the machine's load or the database's state weighs on both sides alike over the repeats."""
    order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
    return {name: sides[name]() for name in order}


def measure_throughput(repeat: int, scripts: dict) -> dict:
    """authorize against the bare view (/healthz) and the bare view plus one primary-key
    SELECT (/readyz), each with wrk at the same concurrency."""
    rps = in_turn(
        repeat,
        {
            "bare": lambda: wrk("/healthz", script=False),
            "bare_db": lambda: wrk("/readyz", script=False),
            "authorize": lambda: wrk(str(scripts["plain"]), script=True),
        },
    )
    return {
        "bare_json_rps": rps["bare"],
        "bare_db_rps": rps["bare_db"],
        "authorize_rps": rps["authorize"],
        "authorize_vs_bare_ratio": round(rps["authorize"] / rps["bare"], 3),
        "authorize_vs_bare_db_ratio": round(rps["authorize"] / rps["bare_db"], 3),
    }


def measure_controls(repeat: int, scripts: dict) -> dict:
    """authorize for the keys with every control against the keys with none, each with wrk
    as authorize_rps is (each set warmed up before the repeats, so that neither pays alone for
    its keys' first sighting)."""
    rps = in_turn(
        repeat,
        {
            kind: lambda kind=kind: wrk(str(scripts[kind]), script=True)
            for kind in ("none", "controls")
        },
    )
    return {
        "authorize_no_controls_rps": rps["none"],
        "authorize_controls_rps": rps["controls"],
        "authorize_controls_vs_none_ratio": round(rps["controls"] / rps["none"], 3),
    }


def measure_holds(repeat: int, scripts: dict) -> dict:
    """authorize with a hold (a gateway that reports usage, the model known: a funded wallet,
    keys without caps or with caps no run reaches) against the bare view plus one transaction
    holding one INSERT and one UPDATE (bench/server_urls.py). The holds are then released."""
    from billing.limits.models import Hold

    rps = in_turn(
        repeat,
        {
            "hold": lambda: wrk(str(scripts["hold"]), script=True),
            "write": lambda: wrk(str(scripts["write"]), script=True),
        },
    )
    floors.release_holds(lambda: _wait_for_quiet(Hold.objects.filter(closed_at__isnull=True)))
    return {
        "authorize_hold_rps": rps["hold"],
        "bare_write_rps": rps["write"],
        "authorize_hold_vs_bare_write_ratio": round(rps["hold"] / rps["write"], 3),
    }


def measure_latency(repeat: int, plaintext: str) -> dict:
    """p50 and p99 of authorize and of /readyz, each at LATENCY_RATE for LATENCY_SECONDS with
    the same open-loop client."""
    runs = in_turn(
        repeat,
        {
            "authorize": lambda: fixed_rate_latency(plaintext, LATENCY_RATE, LATENCY_SECONDS),
            "bare_db": lambda: fixed_rate_latency(
                plaintext,
                LATENCY_RATE,
                LATENCY_SECONDS,
                path="/readyz",
                method="GET",
                body=None,
                gateway_token=False,
            ),
        },
    )
    authorize, bare_db = runs["authorize"], runs["bare_db"]
    return {
        "authorize_p50_ms": round(authorize["p50_ms"], 2),
        "authorize_p99_ms": round(authorize["p99_ms"], 2),
        "authorize_fixed_rate_achieved_rps": authorize["rate"],
        "bare_db_p50_ms": round(bare_db["p50_ms"], 2),
        "bare_db_p99_ms": round(bare_db["p99_ms"], 2),
        "authorize_p99_vs_bare_db_p99": round(authorize["p99_ms"] / bare_db["p99_ms"], 2),
    }


def measure_usage(repeat: int, key_ids: list[str], org_id: str) -> dict:
    """Usage batches of 1,000 from 4 writers, against the same batches written by a plain
    INSERT into a table of the same shape (/bench/floor/usage); then every counter checked.
    Each side runs for some seconds (the floor, four times as fast, writes twice as many
    batches): 5 batches a writer gave the floor a fifth of a second, and spreads of 40 %."""
    runs = in_turn(
        repeat,
        {
            "usage": lambda: post_usage(key_ids, writers=4, batches=10, size=1000),
            "raw": lambda: post_usage(
                key_ids,
                writers=4,
                batches=20,
                size=1000,
                path=f"/bench/floor/usage?org={org_id}",
            ),
        },
    )
    usage = runs["usage"][1] / runs["usage"][0]
    raw = runs["raw"][1] / runs["raw"][0]
    return {
        "usage_events_per_s": round(usage),
        "raw_insert_rows_per_s": round(raw),
        "usage_vs_raw_insert_ratio": round(usage / raw, 3),
        "usage_counters_exact": usage_load.check_counters_exact(),
    }


def warm_up(scripts: dict, key_ids: list[str], org_id: str) -> None:
    """Each side once before the repeats: the workers' connections, the keys' first sighting
    and counters, the floor tables' first pages."""
    wrk("/healthz", script=False, seconds=WARM_UP_SECONDS)
    wrk("/readyz", script=False, seconds=WARM_UP_SECONDS)
    for name in ("plain", "none", "controls", "write"):
        wrk(str(scripts[name]), script=True, seconds=WARM_UP_SECONDS)
    # Long enough that every one of the 1,000 keys has placed a hold (its counters exist).
    wrk(str(scripts["hold"]), script=True, seconds=2 * WARM_UP_SECONDS)
    from billing.limits.models import Hold

    floors.release_holds(lambda: _wait_for_quiet(Hold.objects.filter(closed_at__isnull=True)))
    post_usage(key_ids, writers=1, batches=1, size=1000)
    post_usage(key_ids, writers=1, batches=1, size=1000, path=f"/bench/floor/usage?org={org_id}")


def measure_server(repeat: int, scripts: dict, data: dict, org_id: str) -> dict:
    """One repeat of the server's figures, each back to back with its floor."""
    print(
        f"Repeat {repeat + 1}/{steady.REPEATS}: throughput, bare view, bare db, authorize…",
        flush=True,
    )
    figures = measure_throughput(repeat, scripts)
    print("  authorize with every control, and with none…", flush=True)
    figures.update(measure_controls(repeat, scripts))
    print("  authorize with a hold, and the bare write…", flush=True)
    figures.update(measure_holds(repeat, scripts))
    print(f"  latency at a fixed {LATENCY_RATE} requests/s, authorize and bare db…", flush=True)
    figures.update(measure_latency(repeat, data["plaintexts"][1]))
    print("  usage batches of 1,000, and the raw INSERT…", flush=True)
    figures.update(measure_usage(repeat, data["key_ids"], org_id))
    return figures


def open_loop(
    plaintexts: list[str],
    rate: int,
    seconds: int,
    connections: int = 8,
    *,
    port: int = PORT,
    path: str = "/api/v1/gateway/authorize",
    body: str | None = json.dumps({"model": "gpt-4o-mini"}),
    method: str = "POST",
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
                conn.request(method, path, body=body, headers=headers)
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
    Authorize by default; a gateway's path with `port`, `path`, `body` and `gateway_token`;
    /readyz with `path`, `method` GET and no `body`."""
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


def measure_gateway(data: dict) -> list[dict]:
    """bench/gateway.py against this server, REPEATS times with the same proxies, and the proof
    that nothing was lost: every request of each fixed-rate run (whose client waits for every
    answer) comes back as a usage event, and settles its hold."""
    runs = []
    with gateway.Gateways(PORT, GATEWAY_TOKEN, data["plaintexts"][:1000]) as gateways:
        for repeat in range(steady.REPEATS):
            print(f"  repeat {repeat + 1}/{steady.REPEATS}…", flush=True)
            runs.append(_gateway_once(gateways, warm_up=repeat == 0))
    return runs


def _gateway_once(gateways: gateway.Gateways, *, warm_up: bool) -> dict:
    from django.utils import timezone

    from billing.limits.models import Hold
    from billing.usage.models import UsageEvent

    figures = gateways.throughput(DURATION, warm_up=warm_up)
    # Requests that wrk abandoned when it stopped may still be on their way through the
    # gateway to authorize: the fixed-rate run starts counting once no new hold appears.
    _wait_for_quiet(Hold.objects.all())
    started = timezone.now()
    seconds = LATENCY_SECONDS
    figures.update(gateways.latency(seconds, fixed_rate_latency))
    run_holds = Hold.objects.filter(created_at__gte=started)
    deadline = time.monotonic() + 30
    while run_holds.filter(closed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    ids = set(run_holds.values_list("request_id", flat=True))
    reported = UsageEvent.objects.filter(request_id__in=ids).count()
    expected = gateway.RATE * seconds
    figures["gateway_requests_reported"] = f"{reported}/{expected}"
    figures["gateway_usage_complete"] = (
        len(ids) == reported == expected and not run_holds.filter(closed_at__isnull=True).exists()
    )
    reporter_log = gateways.reporter_log()
    if not figures["gateway_usage_complete"] and reporter_log:
        print(f"The usage reporters logged:\n{reporter_log[-3000:]}", flush=True)
    return figures


RESET_KEYS = 100_000


def measure_resets() -> tuple[list[dict], dict]:
    """reset_periods_due once for 1,000 keys (its statement count only) and REPEATS times for
    100,000 (each in an org of its own): its time and statement count (which must not differ
    from 1,000's), against one plain UPDATE zeroing the same counters. In each repeat: the
    counters seeded, VACUUM ANALYZE, the plain UPDATE (committed; the periods stay ended),
    VACUUM ANALYZE again, so that the reset meets the table in the state the UPDATE met it,
    then the reset. Run after the server's figures, so that the authorize and usage figures see
    the database as before. Returns the figures of each repeat, and the 1,000 keys' count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.limits.resets import reset_periods_due

    def reset(keys: int) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as statements:
            started = time.perf_counter()
            moved = reset_periods_due(now=datetime.now(UTC))
            elapsed = time.perf_counter() - started
        if moved != 2 * keys + 2:
            raise RuntimeError(f"the reset moved {moved} counters, not {2 * keys + 2}")
        return elapsed, len(statements)

    seeding.seed_ended_periods(1_000)
    fixed = {"reset_queries_1k": reset(1_000)[1]}
    runs = []
    for repeat in range(steady.REPEATS):
        print(f"  repeat {repeat + 1}/{steady.REPEATS}…", flush=True)
        org_id = seeding.seed_ended_periods(RESET_KEYS)
        floors.vacuum("billing_counter")
        raw, rows = floors.raw_update_counters(org_id)
        if rows != 2 * RESET_KEYS + 2:
            raise RuntimeError(f"the plain UPDATE zeroed {rows} counters, not {2 * RESET_KEYS + 2}")
        floors.vacuum("billing_counter")
        elapsed, statements = reset(RESET_KEYS)
        runs.append(
            {
                "reset_100k_keys_s": round(elapsed, 2),
                "reset_raw_update_s": round(raw, 2),
                "reset_vs_raw_update_ratio": round(elapsed / raw, 2),
                "reset_queries": statements,
            }
        )
    return runs, fixed


def measure_pages() -> tuple[list[dict], dict]:
    """The page figures (bench/pages.py) on the large data set, in its own database, against
    a gunicorn of their own; after every other figure."""
    scale = float(os.environ.get("BENCH_PAGES_SCALE", "1"))
    env = {**ENV, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{pages.DB_NAME}"}
    python = str(ROOT / ".venv/bin/python")
    have = pages.prepare_database(env, python, ROOT, scale)
    with Server(env, worker_class="gthread"):
        runs, fixed = pages.measure(
            PORT, env, have, python=python, root=ROOT, repeats=steady.REPEATS
        )
    return runs, {"pages_scale": scale, **fixed}


def prepare() -> tuple[dict, dict]:
    """The bench's database, its keys, the floor tables and the wrk scripts."""
    print(f"Preparing {DB_NAME} with {KEYS + 2 * COMPARED_KEYS:,} keys…", flush=True)
    prepare_database()
    data = seeding.seed(KEYS)
    compared = seeding.seed_compared_keys(COMPARED_KEYS)
    floors.create_tables()
    org_id, hold_keys = floors.hold_keys(1000)
    data["org_id"] = org_id
    write_script = ROOT / "bench" / ".floor-write.lua"
    floors.write_script(write_script, org_id, hold_keys)
    scripts = {
        "plain": authorize_script("plain", data["plaintexts"][:1000]),
        "hold": authorize_script("hold", data["plaintexts"][:1000], holds=True),
        "none": authorize_script("none", compared["none"]),
        "controls": authorize_script("controls", compared["controls"]),
        "write": write_script,
    }
    return data, scripts


def measure_all() -> tuple[list[dict], dict]:
    """Every figure REPEATS times: the figures of each repeat, and those measured once (with
    the minutes each phase took)."""
    phases: dict[str, float] = {}
    mark = time.monotonic()

    def done(phase: str) -> None:
        nonlocal mark
        phases[phase] = round((time.monotonic() - mark) / 60, 1)
        mark = time.monotonic()

    data, scripts = prepare()
    done("setup")
    try:
        with Server():
            print("Warming up every side…", flush=True)
            warm_up(scripts, data["key_ids"], data["org_id"])
            done("warm_up")
            server = [
                measure_server(repeat, scripts, data, data["org_id"])
                for repeat in range(steady.REPEATS)
            ]
            done("server")
            print("Through Traefik, without and with the console…", flush=True)
            through = measure_gateway(data)
            done("gateway")
    finally:
        for path in scripts.values():
            path.unlink(missing_ok=True)
    print(f"Period resets of 1,000 and {RESET_KEYS:,} keys, and the plain UPDATE…", flush=True)
    resets, fixed = measure_resets()
    floors.drop_tables()
    done("resets")
    page_runs: list[dict] = [{}] * steady.REPEATS
    if os.environ.get("BENCH_PAGES", "1") != "0":
        page_runs, page_fixed = measure_pages()
        fixed.update(page_fixed)
        done("pages")
    fixed["bench_phase_minutes"] = phases
    runs = [{**server[r], **through[r], **resets[r], **page_runs[r]} for r in range(steady.REPEATS)]
    return runs, fixed


TARGETS = {
    # Issue 15: the targets are ratios to the floors, measured in the same run.
    "authorize_vs_bare_ratio": (">=", 0.6),
    "authorize_vs_bare_db_ratio": (">=", 0.8),
    "authorize_controls_vs_none_ratio": (">=", 0.9),
    "authorize_hold_vs_bare_write_ratio": (">=", 0.6),
    "authorize_p99_vs_bare_db_p99": ("<=", 2),
    "usage_vs_raw_insert_ratio": (">=", 0.4),
    "usage_counters_exact": ("==", True),
    "gateway_throughput_ratio": (">=", 0.5),
    "gateway_usage_complete": ("==", True),
    "reset_vs_raw_update_ratio": ("<=", 3),
    **pages.TARGETS,
}


def main() -> None:
    for tool in ("wrk", "psql"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run bin/install-bench-tools")
    started = time.monotonic()
    watch = machine.Watch().start()
    try:
        runs, fixed = measure_all()
    finally:
        busy = watch.stop()
    figures, spreads, values = steady.combine(runs)
    results: dict = {
        "measured_at": datetime.now(UTC).isoformat(),
        "keys_in_database": KEYS + 2 * COMPARED_KEYS,
        "server": f"gunicorn, {WORKERS} sync workers, DEBUG off, PostgreSQL, Redis; load generated on the same 2 cores",
        "repeats": steady.REPEATS,
        "bench_seconds_per_run": DURATION,
        **figures,
        **fixed,
        "bench_minutes": round((time.monotonic() - started) / 60, 1),
        **busy,
        "spread": spreads,
        "runs": values,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    targets = {
        **TARGETS,
        "gateway_added_p99_ms": ("<=", round(2 * results.get("authorize_p99_ms", 0), 2)),
        # The statement count must not grow with the number of keys.
        "reset_queries": ("==", results["reset_queries_1k"]),
    }
    print_table(results, targets, spreads)
    print(
        f"\n{results['server']}\nEach figure the median of {steady.REPEATS} runs, its spread"
        f" (max - min) / median beside it; {results['bench_minutes']} minutes in all"
        f" ({', '.join(f'{k} {v}' for k, v in results['bench_phase_minutes'].items())})."
        f"\nwritten to {RESULTS.relative_to(ROOT)}"
    )
    if busy["machine_busy_at_start"] or busy["machine_busy_processes"]:
        print("WARNING: the machine was busy during the bench (above): the figures may be noise.")


SKIPPED = {"measured_at", "server", "soak_measured_at", "soak_server", "spread", "runs"}


def print_table(results: dict, targets: dict, spreads: dict | None = None) -> None:
    """Each figure, its spread over the repeats, its target and whether it met it
    (bench/soak.py prints its own too)."""
    spreads = spreads or {}
    print(f"\n{'figure':46} {'value':>14} {'spread':>7}  target")
    for name, value in results.items():
        if name in SKIPPED or name.startswith("machine_") or isinstance(value, dict):
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
        spread = f"{spreads[name]:.1%}" if name in spreads else ""
        print(f"{name:46} {value!s:>14} {spread:>7}  {mark}")


if __name__ == "__main__":
    main()
