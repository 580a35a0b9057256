"""The audit export: the filtered events, oldest first, as CSV or JSON Lines, streamed.

Each row holds every field the chain hashes (`audit.chain.HASHED_FIELDS`, in the canonical
form: `occurred_at` in UTC with microseconds, `org_id` as text) and the event's `hash`, so the
export can be checked without the console. In CSV, `changes` and `data` are JSON texts, an
empty `ip_address` is null, and a text that starts with `=`, `+`, `-`, `@`, a tab, a carriage
return or `'` has a `'` put in front, so that a spreadsheet does not run it as a formula
(gateway_console.csv_cells): drop that one quote to get the text back. An event holds when
SHA-256 of its `prev_hash` followed by its canonical JSON (every field but `hash`; keys
sorted, no spaces, UTF-8) is its `hash`; two events with consecutive `seq` link when the
later's `prev_hash` is the earlier's `hash`. A filtered export checks every event it holds
and every link between neighbours it holds; an unfiltered one checks the whole chain, from
`prev_hash` 000…0 at seq 1.

Recipe (Python 3, standard library only): save it as verify_audit_export.py and run
`python verify_audit_export.py audit-acme-2026-05-01.jsonl` (or the .csv).

# --- recipe ---
import csv, hashlib, json, sys


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as file:
        if path.endswith(".csv"):
            for quoted in csv.DictReader(file):
                # A cell that starts with ' had one put in front against spreadsheet formulas.
                row = {k: v[1:] if v.startswith("'") else v for k, v in quoted.items()}
                row["seq"] = int(row["seq"])
                row["changes"] = json.loads(row["changes"])
                row["data"] = json.loads(row["data"])
                row["ip_address"] = row["ip_address"] or None
                yield row
        else:
            for line in file:
                yield json.loads(line)


def first_bad_event(rows):
    before = None
    for row in rows:
        claimed = row.pop("hash")
        canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest() != claimed:
            return row["seq"], "hash mismatch: the event was changed"
        if before and row["seq"] == before[0] + 1 and row["prev_hash"] != before[1]:
            return row["seq"], "does not link to the event before it"
        before = (row["seq"], claimed)
    return None


if __name__ == "__main__":
    bad = first_bad_event(rows_of(sys.argv[1]))
    print(f"BROKEN at event #{bad[0]}: {bad[1]}" if bad else "every event holds")
    sys.exit(1 if bad else 0)
# --- end of recipe ---
"""

import csv
import json
from collections.abc import Iterable, Iterator

from audit.chain import HASHED_FIELDS, canonical_fields, canonical_json
from audit.models import AuditEvent
from gateway_console.csv_cells import neutralised_row

COLUMNS = (*HASHED_FIELDS, "hash")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
}


def recipe() -> str:
    """The verification recipe above, as the page shows it."""
    text = __doc__.split("# --- recipe ---\n", 1)[1]
    return text.split("# --- end of recipe ---", 1)[0].strip() + "\n"


def export_row(event: AuditEvent) -> dict:
    return {**canonical_fields(event), "hash": event.hash}


class _Line:
    """csv.writer writes into this and gets the line back, so nothing accumulates."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for event in events:
        row = export_row(event)
        row["changes"] = canonical_json(row["changes"])
        row["data"] = canonical_json(row["data"])
        row["ip_address"] = row["ip_address"] or ""
        # Labels, user agents and ids are people's text: no cell may be a formula.
        yield writer.writerow(neutralised_row(row[column] for column in COLUMNS))


def jsonl_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(export_row(event), ensure_ascii=False, separators=(",", ":")) + "\n"


def lines(fmt: str, events: Iterable[AuditEvent]) -> Iterator[str]:
    return csv_lines(events) if fmt == "csv" else jsonl_lines(events)
