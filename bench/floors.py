"""The floors of issue 15: for each figure of `make bench`, the least that its work must do,
measured in the same run, on the same database and server (bench/run.py measures both sides of
each ratio back to back in every repeat).

- authorize: /readyz, the bare view plus one primary-key SELECT (bare_db_rps, bare_db_p99_ms);
- authorize with a hold: /bench/floor/write (bench/server_urls.py), the bare view plus one
  transaction holding one INSERT and one UPDATE (bare_write_rps);
- usage: /bench/floor/usage, the same batches written by one plain multi-row INSERT into a table
  of billing_usageevent's shape (raw_insert_rows_per_s);
- reset: one plain UPDATE zeroing the same counters (reset_raw_update_s; raw_update_counters);
- pages: each page's main query run alone (bench/page_queries.py).

The floor tables live in the bench's own database, created here and dropped at the end."""

import time

from django.db import connection

TABLES = {
    "bench_floor_hold": "billing_hold",
    "bench_floor_wallet": "billing_wallet",
    "bench_floor_usageevent": "billing_usageevent",
}

WRITE_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("POST", paths[i], {
    ["Content-Type"] = "application/json",
  }, '{"model":"gpt-4o-mini"}')
end
"""


def create_tables() -> None:
    """Copies of the real tables' columns, defaults, checks and indexes (LIKE … INCLUDING
    ALL; no foreign keys, triggers or counters), and the wallet rows as seed() left them."""
    drop_tables()
    with connection.cursor() as cursor:
        for floor, real in TABLES.items():
            cursor.execute(f"CREATE TABLE {floor} (LIKE {real} INCLUDING ALL)")
        cursor.execute("INSERT INTO bench_floor_wallet SELECT * FROM billing_wallet")


def drop_tables() -> None:
    with connection.cursor() as cursor:
        for floor in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {floor}")


def write_script(path, org_id: str, keys: list[tuple[str, str | None]]) -> None:
    """A wrk script that posts to the write floor for each (key, team) in turn."""
    paths = ",".join(
        f'"/bench/floor/write?org={org_id}&key={key}&team={team or ""}"' for key, team in keys
    )
    path.write_text(WRITE_SCRIPT % paths)


def hold_keys(count: int) -> tuple[str, list[tuple[str, str | None]]]:
    """seed()'s org and the (key, team) of its first `count` keys, whose plaintexts the
    authorize scripts use."""
    from keys.models import Key

    rows = Key.objects.filter(name__in=[f"bench-{i}" for i in range(count)]).values_list(
        "org_id", "id", "team_id"
    )
    rows = list(rows)
    return str(rows[0][0]), [(str(key), str(team) if team else None) for _, key, team in rows]


def release_holds(holds_settled) -> int:
    """Closes every open hold of authorize's hold runs once no request is still placing one
    (`holds_settled` waits for that), as the release task would after HOLD_TTL (600 s; no hold
    run comes near it), so that the wallet and counters hold nothing for the figures after."""
    from datetime import UTC, datetime, timedelta

    from django.conf import settings

    from billing.limits.holds import release_expired

    holds_settled()
    later = datetime.now(UTC) + timedelta(seconds=settings.HOLD_TTL + 1)
    return release_expired(now=later)


def vacuum(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")


def raw_update_counters(org_id: str) -> tuple[float, int]:
    """One plain UPDATE zeroing every counter of the org, its time (s, commit included) and
    its row count. The periods are left as they are: the reset still finds them due."""
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "UPDATE billing_counter SET spend_micros = 0, tokens = 0 WHERE org_id = %s",
            [org_id],
        )
        rows = cursor.rowcount
        elapsed = time.perf_counter() - started
    return elapsed, rows
