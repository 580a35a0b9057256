"""The usage figure's client (bench/run.py): gateways posting usage batches to the console or
to its floor, and the check that every counter equals the sums of the events written."""

import http.client
import json
import secrets
import threading
import time
from datetime import UTC, datetime


def post_usage(
    key_ids: list[str],
    *,
    writers: int,
    batches: int,
    size: int,
    port: int,
    token: str,
    path: str = "/api/v1/gateway/usage",
) -> tuple[float, int]:
    """Time and events of `writers` clients posting `batches` batches of `size` events each,
    to the usage endpoint or (`path`) to its floor."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    run = secrets.token_hex(4)
    failures = []

    def writer(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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
                path,
                body=json.dumps({"events": events}),
                headers={"X-Gateway-Token": token, "Content-Type": "application/json"},
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
