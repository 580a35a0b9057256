"""Each page's main SQL query run alone (issue 15: `<page>_vs_query_ratio`), beside bench/pages.py.

Started by bench/pages.py with the page database's environment; reads one JSON request a line
on stdin, {"page": <figure>, "kind": <MAIN_QUERIES key>, "path": <url>, "requests": <n>}, and
answers one JSON line: the query's name, its SQL (shortened) and the p50 (ms) of running it
`requests` times after WARM_UP runs, each timed from execute to the last row fetched, on one
connection of its own, nothing else running in this process.

The query is the page's own: the first time a path is asked for, the page is rendered here once
(Django's test client, signed in as the pages' owner, the server's settings) with its queries
captured, and the one that MAIN_QUERIES names for the page's kind is kept, exactly as it was
sent (values bound in). A page where no captured query fits is an error."""

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 5


def _select(table: str, *clauses: str):
    """A SELECT whose first FROM is `table` and that has each of `clauses`."""

    def fits(sql: str) -> bool:
        text = sql.lower()
        return (
            text.startswith("select")
            and f' from "{table}"' in text
            and text.index(" from ") == text.index(f' from "{table}"')
            and all(clause in text for clause in clauses)
        )

    return fits


# The main query of each kind of page, by name: the one that reads the page's rows. Exactly
# one query of the page must fit.
MAIN_QUERIES = {
    "keys_list": (
        "the page of keys: SELECT … FROM keys_key … ORDER BY … LIMIT",
        _select("keys_key", " order by ", " limit "),
    ),
    "key_usage": (
        "the key's hourly usage: SELECT … FROM billing_usagehourly … GROUP BY",
        _select("billing_usagehourly", " group by "),
    ),
    "audit_list": (
        "the page of audit events: SELECT … FROM audit_auditevent … ORDER BY … LIMIT",
        _select("audit_auditevent", " order by ", " limit "),
    ),
}


def capture(client, path: str, kind: str) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, secure=True)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    fits = MAIN_QUERIES[kind][1]
    found = [q["sql"] for q in queries.captured_queries if fits(q["sql"])]
    if len(found) != 1:
        sent = "\n".join(short(q["sql"]) for q in queries.captured_queries)
        raise RuntimeError(
            f"{len(found)} queries of {path}, not one, are {MAIN_QUERIES[kind][0]}:\n{sent}"
        )
    return found[0]


def short(sql: str) -> str:
    """The query without its list of columns."""
    start = sql.lower().find(" from ")
    return ("SELECT …" + sql[start:] if start > 0 else sql)[:400]


def _times(sql: str, runs: int) -> list[float]:
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import pages
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    response = client.post(
        "/sign-in/",
        {"username": pages.OWNER, "password": pages.PASSWORD, "next": ""},
        secure=True,
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    kept: dict[str, str] = {}
    for line in sys.stdin:
        ask = json.loads(line)
        if ask["path"] not in kept:
            kept[ask["path"]] = capture(client, ask["path"], ask["kind"])
        sql = kept[ask["path"]]
        _times(sql, WARM_UP)
        p50 = statistics.median(_times(sql, ask["requests"]))
        answer = {
            "page": ask["page"],
            "query": MAIN_QUERIES[ask["kind"]][0],
            "sql": short(sql),
            "p50_ms": round(p50, 2),
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
