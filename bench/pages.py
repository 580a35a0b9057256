"""The page figures of `make bench` (issue 6, "Scale"): the keys list, a key's usage page, the
audit log and its export, on the large data set, through a signed-in browser-like client.

Data set: `seed_demo --keys 100000 --events 2000000 --audit 1000000` in its own database
(gateway_console_bench_pages), reused when it already holds exactly those counts (it takes
10–15 minutes to build on two cores). BENCH_PAGES_SCALE shrinks every count (0.05 for a quick
run); BENCH_PAGES_TEMPLATE=<database> copies an already seeded database with the same counts
instead of seeding (CREATE DATABASE … TEMPLATE; no one may be connected to it).

Server: gunicorn, DEBUG off, as bench/run.py starts it. The client keeps the session and CSRF
cookies itself and says it came through a TLS proxy (X-Forwarded-Proto: https), as a browser
behind the production proxy does: with DEBUG off the cookies are Secure. Requests are
sequential, each timed from sending to the last byte of the body; every p50 is over
BENCH_PAGES_REQUESTS (default 40) requests after a warm-up.

Floors (issue 15): each page's p50 against the p50 of its main SQL query run alone, on the same
database in the same repeat, right after the page (bench/page_queries.py names each query and
captures it from the page itself): `<page>_vs_query_ratio`, at most 3, beside the absolute
targets; and what a signed-in request costs before any page's work (SIGNED_IN_FLOOR), against
the same query. Every figure is measured `repeats` times (bench/run.py takes the medians); the deep
pages are found once.

Query counts that must not grow with the data are asserted in the tests on small data, not
here.
"""

import html
import http.client
import json
import os
import re
import statistics
import subprocess
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

DB_NAME = "gateway_console_bench_pages"
FULL = {"keys": 100_000, "events": 2_000_000, "audit": 1_000_000}
OWNER = "owner@acme.example"
PASSWORD = "demo-password-2026"
DEEP_PAGES = 50
# The audit export streams the whole log (about 600 MB, near 2 minutes at full scale): a figure
# averaged over its own length, measured in the first repeat only (BENCH_EXPORT_REPEATS), which
# keeps `make bench` under 20 minutes; the other page figures are measured in every repeat.
EXPORT_REPEATS = int(os.environ.get("BENCH_EXPORT_REPEATS", "1"))
WARM_UP = 5
TARGETS = {
    "keys_list_p50_ms": ("<", 100),
    "keys_list_first_p50_ms": ("<", 100),
    "keys_list_deep_p50_ms": ("<", 100),
    "keys_list_unfiltered_p50_ms": ("<", 100),
    "key_usage_page_p50_ms": ("<", 100),
    "audit_list_p50_ms": ("<", 100),
    "audit_list_first_p50_ms": ("<", 100),
    "audit_export_complete": ("==", True),
}
# The pages with a floor: the figure's prefix and the kind of its main query (page_queries.py).
PAGES = {
    "keys_list_first": "keys_list",
    "keys_list_deep": "keys_list",
    "keys_list_unfiltered": "keys_list",
    "key_usage_page": "key_usage",
    "audit_list_first": "audit_list",
    "audit_list": "audit_list",
}
TARGETS.update({f"{page}_vs_query_ratio": ("<=", 3) for page in PAGES})
# What any signed-in request costs before its page's own work: /healthz with the session cookie
# goes through the browser's middleware (the session, its person, their membership, two-factor,
# the session's timeouts) and answers a few bytes of JSON. `<page>_signed_in_floor_vs_query` is
# that p50 over the page's main query's: above 3, no page can meet its ratio while a session is
# checked against the database on every request.
SIGNED_IN_FLOOR = "/healthz"
TARGETS["keys_list_vs_query_ratio"] = ("<=", 3)


def wanted_counts(scale: float) -> dict:
    return {name: max(1, round(count * scale)) for name, count in FULL.items()}


def psql(env: dict, database: str, sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qAtX", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()


def database_exists(env: dict, name: str) -> bool:
    return name in psql(env, "postgres", "SELECT datname FROM pg_database").splitlines()


def counts_of(env: dict, database: str) -> dict | None:
    """The demo org's keys, usage events and audit events; None for a database without it."""
    try:
        row = psql(
            env,
            database,
            "SELECT (SELECT count(*) FROM keys_key k WHERE k.org_id = o.id),"
            " (SELECT count(*) FROM billing_usageevent e WHERE e.org_id = o.id),"
            " (SELECT count(*) FROM audit_auditevent a WHERE a.org_id = o.id)"
            " FROM gateway_console_org o WHERE o.slug = 'acme'",
        )
    except subprocess.CalledProcessError:
        return None
    if not row:
        return None
    keys, events, audit = (int(n) for n in row.split("|"))
    return {"keys": keys, "events": events, "audit": audit}


def counts_fit(have: dict | None, wanted: dict) -> bool:
    # seed_demo makes exactly this many keys and usage events, and tops the audit log up to at
    # least `audit` events (the org's own events of setting up count too).
    return (
        have is not None
        and have["keys"] == wanted["keys"]
        and have["events"] == wanted["events"]
        and wanted["audit"] <= have["audit"] <= wanted["audit"] * 1.01 + 1000
    )


def prepare_database(env: dict, python: str, root, scale: float) -> dict:
    """The page database with the wanted counts: reused, copied from BENCH_PAGES_TEMPLATE, or
    built with seed_demo (DEBUG on for the seed only, as a developer runs it)."""
    wanted = wanted_counts(scale)
    template = env.get("BENCH_PAGES_TEMPLATE", "")
    manage = [python, "manage.py"]
    if database_exists(env, DB_NAME) and counts_fit(counts_of(env, DB_NAME), wanted):
        print(f"Reusing {DB_NAME} ({wanted['keys']:,} keys, …)", flush=True)
        built = False
    else:
        psql(env, "postgres", f"DROP DATABASE IF EXISTS {DB_NAME}")
        if template and counts_fit(counts_of(env, template), wanted):
            print(f"Copying {template} into {DB_NAME}…", flush=True)
            # A file copy: much faster than the WAL-logged copy of PostgreSQL 15 for gigabytes.
            strategy = (
                " STRATEGY = FILE_COPY"
                if int(psql(env, "postgres", "SHOW server_version_num")) >= 150000
                else ""
            )
            psql(env, "postgres", f'CREATE DATABASE {DB_NAME} TEMPLATE "{template}"{strategy}')
        else:
            psql(env, "postgres", f"CREATE DATABASE {DB_NAME}")
        built = True
    # A reused or copied database gets any migration added since it was built.
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], check=True, cwd=root, env=env)
    if built and not counts_fit(counts_of(env, DB_NAME), wanted):
        print(
            f"Seeding {DB_NAME}: {wanted['keys']:,} keys, {wanted['events']:,} usage events,"
            f" {wanted['audit']:,} audit events (minutes at full scale)…",
            flush=True,
        )
        started = time.perf_counter()
        subprocess.run(
            [
                *manage,
                "seed_demo",
                "--keys",
                str(wanted["keys"]),
                "--events",
                str(wanted["events"]),
                "--audit",
                str(wanted["audit"]),
            ],
            check=True,
            cwd=root,
            env={**env, "DEBUG": "1"},
            stdout=subprocess.DEVNULL,
        )
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
    have = counts_of(env, DB_NAME)
    if not counts_fit(have, wanted):
        raise RuntimeError(f"{DB_NAME} holds {have}, not {wanted}")
    # As autovacuum would after a bulk load (VACUUM also sets the visibility map).
    psql(env, DB_NAME, "VACUUM ANALYZE" if built else "ANALYZE")
    return have


class Client:
    """A signed-in browser: cookies kept, CSRF token from the form, no redirects followed."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"X-Forwarded-Proto": "https", "Accept": "text/html", **(extra or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        """(status, headers, body bytes, seconds from sending to the last byte)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=self._headers(headers))
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - started
        finally:
            conn.close()
        self._keep_cookies(response)
        return response.status, response.headers, data, elapsed

    def get(self, path: str) -> str:
        status, headers, data, _ = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {headers.get('Location', '')}")
        return data.decode()

    def sign_in(self, email: str, password: str) -> None:
        form = self.get("/sign-in/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        origin = f"https://127.0.0.1:{self.port}"
        status, _headers, data, _ = self.request(
            "POST",
            "/sign-in/",
            body=urlencode(
                {"csrfmiddlewaretoken": token, "username": email, "password": password, "next": ""}
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": origin,
                "Referer": f"{origin}/sign-in/",
            },
        )
        # The session cookie is __Host-session with DEBUG off (config/settings.py).
        if status != 302 or not any(name.endswith("session") for name in self.cookies):
            raise RuntimeError(f"sign-in failed: {status} {data[:300]!r}")

    def p50_ms(self, path: str, requests: int) -> float:
        for _ in range(WARM_UP):
            self.get(path)
        times = []
        for _ in range(requests):
            status, headers, _data, elapsed = self.request("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {headers.get('Location', '')}")
            times.append(elapsed * 1000)
        return round(statistics.median(times), 2)

    def stream(self, path: str) -> dict:
        """Reads the whole streamed body: its MB/s, bytes, seconds and lines, and whether it
        ended as a response should (not cut off, e.g. by gunicorn's worker timeout)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        size = lines = 0
        complete = True
        try:
            started = time.perf_counter()
            conn.request("GET", path, headers=self._headers())
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")
            while True:
                try:
                    chunk = response.read(1 << 20)
                except http.client.IncompleteRead as cut:
                    chunk, complete = cut.partial, False
                except ConnectionError:
                    chunk, complete = b"", False
                size += len(chunk)
                lines += chunk.count(b"\n")
                if not chunk or not complete:
                    break
            elapsed = time.perf_counter() - started
        finally:
            conn.close()
        return {
            "mb_per_s": round(size / elapsed / 1e6, 2),
            "bytes": size,
            "seconds": round(elapsed, 2),
            "lines": lines,
            "complete": complete,
        }


def _link(page: str, pattern: str) -> str | None:
    found = re.search(pattern, page)
    return html.unescape(found.group(1)) if found else None


def walk(client: Client, path: str, pattern: str, pages: int) -> tuple[str, int]:
    """Follows a page's `pattern` link up to `pages` times: the deepest page reached and how
    many links were followed."""
    base = path.split("?", 1)[0]
    for n in range(pages):
        link = _link(client.get(path), pattern)
        if link is None:
            return path, n
        path = base + link if link.startswith("?") else link
    return path, pages


NEXT_KEYS = r'<a class="button" href="([^"]+)"[^>]*rel="next"'
OLDER_AUDIT = r'<a class="button" href="([^"]+)"[^>]*>Older'


class Queries:
    """bench/page_queries.py in a process of its own on the page database, for as long as
    the pages are measured."""

    def __init__(self, python: str, root, env: dict):
        self.process = subprocess.Popen(
            [python, str(root / "bench" / "page_queries.py")],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.named: dict[str, dict] = {}

    def p50_ms(self, page: str, path: str, requests: int) -> float:
        ask = {"page": page, "kind": PAGES[page], "path": path, "requests": requests}
        self.process.stdin.write(json.dumps(ask) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/page_queries.py ended (status {self.process.wait()})")
        answer = json.loads(line)
        self.named[page] = {"query": answer["query"], "sql": answer["sql"]}
        return answer["p50_ms"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def paths(client: Client, env: dict) -> tuple[dict, dict]:
    """The URL of each page of PAGES (its deep pages found by following the links), and the
    depths reached."""
    team = psql(
        env,
        DB_NAME,
        "SELECT t.id FROM gateway_console_team t JOIN gateway_console_org o ON o.id = t.org_id"
        " WHERE o.slug = 'acme' AND t.name = 'Search'",
    )
    # The key with the most requests in the last 30 days (its usage page has the most rows).
    busy_key = psql(
        env,
        DB_NAME,
        "SELECT key_id FROM billing_usagehourly WHERE hour > now() - interval '31 days'"
        " GROUP BY key_id ORDER BY sum(requests) DESC, key_id LIMIT 1",
    )
    print("Pages: finding the deep pages of the keys list and the audit log…", flush=True)
    keys_first = f"/keys/?{urlencode({'team': team, 'status': 'active'})}"
    keys_deep, keys_depth = walk(client, keys_first, NEXT_KEYS, DEEP_PAGES)
    audit_first = "/audit/?action=key.rotated"
    audit_deep, audit_depth = walk(client, audit_first, OLDER_AUDIT, DEEP_PAGES)
    urls = {
        "keys_list_first": keys_first,
        "keys_list_deep": keys_deep,
        # Beside the two figures asked for: the first page as it opens, without a filter.
        "keys_list_unfiltered": "/keys/",
        "key_usage_page": f"/keys/{busy_key}/usage/?range=30d",
        "audit_list_first": audit_first,
        "audit_list": audit_deep,
    }
    return urls, {"keys_list_deep_page": keys_depth + 1, "audit_list_deep_page": audit_depth + 1}


def measure_once(
    client: Client, queries: Queries, urls: dict, requests: int, env: dict, *, export: bool
) -> dict:
    """One repeat: each page's p50 and, right after it, its main query's; then, if `export`,
    the audit export."""
    figures: dict = {}
    signed_in = client.p50_ms(SIGNED_IN_FLOOR, requests)
    figures["signed_in_floor_p50_ms"] = signed_in
    for page, url in urls.items():
        page_ms = client.p50_ms(url, requests)
        query_ms = queries.p50_ms(page, url, requests)
        figures[f"{page}_p50_ms"] = page_ms
        figures[f"{page}_query_p50_ms"] = query_ms
        figures[f"{page}_vs_query_ratio"] = round(page_ms / query_ms, 2)
        figures[f"{page}_signed_in_floor_vs_query"] = round(signed_in / query_ms, 2)
    first, deep = "keys_list_first", "keys_list_deep"
    figures["keys_list_p50_ms"] = max(figures[f"{first}_p50_ms"], figures[f"{deep}_p50_ms"])
    figures["keys_list_vs_query_ratio"] = max(
        figures[f"{first}_vs_query_ratio"], figures[f"{deep}_vs_query_ratio"]
    )
    if export:
        figures.update(measure_export(client, env))
    return figures


def measure_export(client: Client, env: dict) -> dict:
    """The whole audit log as JSON Lines: MB/s, size, events, seconds, and whether it ended."""
    figures: dict = {}
    # Signing in may have added to the log since the counts were taken.
    audit_now = counts_of(env, DB_NAME)["audit"]
    print(f"  audit export of {audit_now:,} events (JSON Lines)…", flush=True)
    export = client.stream("/audit/export.jsonl")
    if export["complete"] and export["lines"] != audit_now:
        raise RuntimeError(f"the export held {export['lines']:,} events, not {audit_now:,}")
    figures["audit_export_mb_per_s"] = export["mb_per_s"]
    figures["audit_export_mb"] = round(export["bytes"] / 1e6, 1)
    figures["audit_export_events"] = export["lines"]
    figures["audit_export_s"] = export["seconds"]
    # False when the stream was cut off before its end (the figures above are then of the
    # part that arrived).
    figures["audit_export_complete"] = export["complete"]
    return figures


def measure(
    port: int, env: dict, have: dict, *, python: str, root, repeats: int
) -> tuple[list[dict], dict]:
    """The figures of each of `repeats` repeats, and those measured once (the data set's
    counts, the depths, the name and SQL of each page's main query)."""
    requests = max(30, int(env.get("BENCH_PAGES_REQUESTS", "40")))
    client = Client(port)
    client.sign_in(OWNER, PASSWORD)
    urls, depths = paths(client, env)
    queries = Queries(python, root, env)
    runs = []
    try:
        for repeat in range(repeats):
            print(
                f"Pages, repeat {repeat + 1}/{repeats}: each page, then its main query…",
                flush=True,
            )
            export = repeat < EXPORT_REPEATS
            runs.append(measure_once(client, queries, urls, requests, env, export=export))
    finally:
        queries.close()
    for page, named in queries.named.items():
        print(f"  {page}: {named['query']}\n    {named['sql'][:160]}…", flush=True)
    fixed = {
        "pages_keys": have["keys"],
        "pages_usage_events": have["events"],
        "pages_audit_events": have["audit"],
        **depths,
        "pages_requests_per_p50": requests,
        "pages_main_queries": {page: named["sql"] for page, named in queries.named.items()},
    }
    return runs, fixed
