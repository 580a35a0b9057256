"""`make soak`: the console under a steady load for SOAK_SECONDS (600), on loopback, with the
setup of `make bench` (bench/run.py: gunicorn with 3 sync workers, DEBUG off, PostgreSQL and
Redis, 10,000 keys) in a database of its own, gateway_console_soak. Not part of `make test`.

Two open-loop clients at fixed rates (bench/run.py's open_loop) run side by side:
- authorize itself at SOAK_AUTHORIZE_RATE (200) requests/s, round a thousand real keys;
- OpenAI-style calls through the shipped Traefik data plane (bench/gateway.py: ForwardAuth to
  authorize, a hold, the fake provider, a usage event per request) at SOAK_GATEWAY_RATE (50)
  requests/s, round a hundred of those keys.
Some keys are capped: ten have a monthly spend cap of $0.0002 that the data plane's usage
reaches within the first minutes (402 from then on), five a limit of 10 requests a minute
(429, counted in Redis).

Then, in bench/results.json (merged with what is there):
- `soak_5xx` (must be 0): 5xx answers anywhere: the console's own (its access log: authorize,
  ForwardAuth, usage posts) and those the data plane's client saw;
- `soak_counter_drift_micros` (must be 0): once every hold has settled, the reconciliation
  (billing.ledger.reconcile): every key and team counter against its usage events, the wallet
  against its ledger; the sum of the absolute differences, in micro-units;
- `soak_rss_growth_pct` (must be < 10): the gunicorn workers' resident memory (sum of VmRSS,
  sampled every 5 s) averaged over the last minute against the first;
- `soak_usage_complete` (must be true): a usage event for every 200 the data plane's client
  saw, and no hold left open (`soak_open_holds`) a minute after the load. When it is not, the
  soak names each answer without its event, by the X-Gateway-Request-Id it carried, and prints
  what the reporter and Traefik logged.
"""

import collections
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("BENCH_DATABASE", "gateway_console_soak")

import gateway
import run
import seeding

SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
AUTHORIZE_RATE = int(os.environ.get("SOAK_AUTHORIZE_RATE", "200"))
GATEWAY_RATE = int(os.environ.get("SOAK_GATEWAY_RATE", "50"))
WINDOW = min(60, max(SECONDS // 3, 1))  # the first and the last minute
SAMPLE_EVERY = 5
CAPPED, RATE_LIMITED = range(10), range(10, 15)  # of the data plane's hundred keys
ACCESS_LOG_FORMAT = "%(s)s %(U)s"  # status and path: never a key, never a query string

TARGETS = {
    "soak_5xx": ("==", 0),
    "soak_no_answer": ("==", 0),
    "soak_open_holds": ("==", 0),
    "soak_usage_complete": ("==", True),
    "soak_counter_drift_micros": ("==", 0),
    "soak_reconcile_findings": ("==", 0),
    "soak_rss_growth_pct": ("<", 10),
    "soak_worker_restarts": ("==", 0),
}


def prepare() -> dict:
    """bench/run.py's database and keys; then the wallet funded through its ledger (a top-up,
    so that wallet = ledger from the start), and the capped and rate-limited keys."""
    run.prepare_database()
    data = seeding.seed(run.KEYS)  # sets Django up
    from billing.ledger.models import Wallet
    from billing.ledger.services import top_up_wallet
    from gateway_console.actors import Actor
    from gateway_console.models import Org
    from keys.models import Key

    org = Org.objects.get(slug="bench")
    Wallet.objects.filter(org=org).update(balance_micros=0)
    top_up_wallet(org=org, actor=Actor.system("soak"), amount=Decimal("1000000000"))
    keys = Key.objects.filter(org=org)
    keys.filter(name__in=[f"bench-{i}" for i in CAPPED]).update(monthly_spend_cap=Decimal("0.0002"))
    keys.filter(name__in=[f"bench-{i}" for i in RATE_LIMITED]).update(rpm_limit=10)
    return data


def worker_pids(master: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{master}$", text, re.M):
            pids.append(int(status.parent.name))
    return pids


def workers_rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1))
    return total


def sample_rss(master: int, started: float, stop: threading.Event, samples: list, seen: set):
    """(seconds since the load began, the workers' summed RSS in kB) every SAMPLE_EVERY s."""
    while not stop.wait(SAMPLE_EVERY):
        pids = worker_pids(master)
        seen.update(pids)
        samples.append((time.monotonic() - started, workers_rss_kb(pids)))


def load(through_port: int, data: dict, master: int) -> dict:
    """Both clients for SECONDS, the RSS sampler beside them."""
    results: dict = {}
    request_ids: list = []
    samples: list = []
    seen: set = set()
    stop = threading.Event()
    stop_at = time.perf_counter() + 0.5 + SECONDS + 1
    started = time.monotonic() + 0.5
    clients = {
        "authorize": lambda: run.open_loop(
            data["plaintexts"][:1000], AUTHORIZE_RATE, SECONDS, 8, stop_at=stop_at
        ),
        "gateway": lambda: run.open_loop(
            data["plaintexts"][:100],
            GATEWAY_RATE,
            SECONDS,
            8,
            port=through_port,
            path=gateway.PATH,
            body=gateway.BODY,
            gateway_token=False,
            stop_at=stop_at,
            request_ids=request_ids,
        ),
    }
    threads = [
        threading.Thread(target=lambda n=name, c=client: results.__setitem__(n, c()))
        for name, client in clients.items()
    ]
    sampler = threading.Thread(target=sample_rss, args=(master, started, stop, samples, seen))
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()
    return {"clients": results, "request_ids": request_ids, "rss": samples, "pids": seen}


def settle(limit: float = 60) -> int:
    """Waits for the data plane's last usage events: until no hold is open (or `limit` s).
    Returns the holds still open."""
    from billing.limits.models import Hold

    open_holds = Hold.objects.filter(closed_at__isnull=True)
    deadline = time.monotonic() + limit
    while open_holds.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    return open_holds.count()


def unreported(request_ids: list) -> list[str]:
    """What became of the data plane's 200 answers that have no usage event, by the request id
    each answer carried (X-Gateway-Request-Id, which the reporter sets on every request it
    reports): lines to print, none when every answer has its event."""
    from billing.limits.models import Hold
    from billing.usage.models import TrafficMinute, UsageEvent

    statuses = dict(UsageEvent.objects.values_list("request_id", "status_code"))
    held = set(Hold.objects.values_list("request_id", flat=True))
    named = [i for i in request_ids if i is not None]
    answered = set(named)
    lines = []
    if len(named) < len(request_ids):
        no_model = sum(
            TrafficMinute.objects.filter(outcome="allowed_no_model").values_list("count", flat=True)
        )
        lines.append(
            f"{len(request_ids) - len(named)} answers of 200 carried no request id (the reporter"
            f" let them pass unreported); authorize allowed {no_model} without a model"
        )
    repeated = collections.Counter(named) - collections.Counter(answered)
    if repeated:
        lines.append(f"request ids answered more than once: {dict(repeated)}")
    for request_id in sorted(answered - statuses.keys())[:20]:
        state = "a hold" if request_id in held else "no hold"
        lines.append(f"answered 200 without a usage event: {request_id} ({state})")
    unseen = [status for request_id, status in statuses.items() if request_id not in answered]
    if unseen:
        lines.append(
            "usage events of no 200 answer, by status:"
            f" {dict(collections.Counter(unseen).most_common())}"
        )
    return lines


def access_log_5xx(path: Path) -> tuple[int, collections.Counter]:
    requests, errors = 0, collections.Counter()
    with path.open() as log:
        for line in log:
            requests += 1
            status, _, url = line.strip().partition(" ")
            if status.startswith("5"):
                errors[url] += 1
    return requests, errors


def drift() -> tuple[int, int]:
    """(the sum of the absolute differences, the findings) of the reconciliation."""
    from billing.ledger.reconcile import reconcile_all

    findings = reconcile_all().findings
    total = sum(abs((f.expected_micros or 0) - (f.actual_micros or 0)) for f in findings)
    for finding in findings[:10]:
        print(f"reconcile: {finding.detail}", flush=True)
    return total, len(findings)


def rss_growth(samples: list) -> tuple[float, float, float]:
    first = [kb for t, kb in samples if t < WINDOW]
    last = [kb for t, kb in samples if t >= SECONDS - WINDOW]
    first_kb, last_kb = sum(first) / len(first), sum(last) / len(last)
    return first_kb / 1024, last_kb / 1024, (last_kb - first_kb) / first_kb * 100


def statuses(counts: collections.Counter) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))


def figures(measured: dict, log: tuple, reconciled: tuple, open_holds: int) -> dict:
    from billing.usage.models import UsageEvent

    (_, authorize, authorize_s), (_, through, through_s) = (
        measured["clients"]["authorize"],
        measured["clients"]["gateway"],
    )
    console_requests, console_5xx = log
    client_5xx = sum(n for s, n in (authorize + through).items() if s >= 500)
    events = UsageEvent.objects.count()
    first_mb, last_mb, growth = rss_growth(measured["rss"])
    return {
        "soak_measured_at": datetime.now(UTC).isoformat(),
        "soak_server": (
            f"gunicorn, {run.WORKERS} sync workers, DEBUG off, PostgreSQL, Redis, Traefik;"
            f" {AUTHORIZE_RATE}/s to authorize and {GATEWAY_RATE}/s through Traefik"
        ),
        "soak_seconds": SECONDS,
        "soak_authorize_rps": round(authorize.total() / authorize_s, 1),
        "soak_authorize_statuses": statuses(authorize),
        "soak_gateway_rps": round(through.total() / through_s, 1),
        "soak_gateway_statuses": statuses(through),
        "soak_console_requests": console_requests,
        "soak_console_5xx": sum(console_5xx.values()),
        "soak_5xx": sum(console_5xx.values()) + client_5xx,
        "soak_no_answer": authorize[0] + through[0],
        "soak_usage_events": events,
        "soak_open_holds": open_holds,
        "soak_usage_complete": events == through[200] and open_holds == 0,
        "soak_counter_drift_micros": reconciled[0],
        "soak_reconcile_findings": reconciled[1],
        "soak_rss_first_minute_mb": round(first_mb, 1),
        "soak_rss_last_minute_mb": round(last_mb, 1),
        "soak_rss_growth_pct": round(growth, 2),
        "soak_worker_restarts": max(0, len(measured["pids"]) - run.WORKERS),
    }


def main() -> None:
    if not shutil.which("psql"):
        sys.exit("psql is missing")
    print(f"Preparing {run.DB_NAME} with {run.KEYS:,} keys…", flush=True)
    data = prepare()
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    access_log = tmp / "access.log"
    access = ("--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT)
    with run.Server(extra_args=access) as server:
        with gateway.Gateways(run.PORT, run.GATEWAY_TOKEN, data["plaintexts"][:100]) as gateways:
            print(
                f"Soak: {SECONDS} s, {AUTHORIZE_RATE}/s to authorize, {GATEWAY_RATE}/s through"
                " Traefik…",
                flush=True,
            )
            measured = load(gateways.ports["instant"][1], data, server.process.pid)
            open_holds = settle()
            missing = unreported(measured["request_ids"])
            if open_holds or missing:
                print("\n".join(missing), flush=True)
                print(f"The usage reporters logged:\n{gateways.reporter_log()[-3000:]}")
        log = access_log_5xx(access_log)
    if log[1]:
        print(f"5xx from the console, by path: {dict(log[1])}", flush=True)
    print("Reconciling counters and the wallet…", flush=True)
    results = figures(measured, log, drift(), open_holds)
    shutil.rmtree(tmp, ignore_errors=True)

    merged = json.loads(run.RESULTS.read_text()) if run.RESULTS.exists() else {}
    merged.update(results)
    run.RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    run.print_table(results, TARGETS)
    print(f"\n{results['soak_server']}\nmerged into {run.RESULTS.relative_to(run.ROOT)}")


if __name__ == "__main__":
    main()
