"""The bench's floor endpoints (issue 15), beside every route of the console. Each does the
least that its figure's work must do, on the same server, middleware and database:

- POST /bench/floor/write?org=…&key=…&team=…: the bare view plus one transaction holding one
  INSERT (a hold's row, into bench_floor_hold, a copy of billing_hold's shape and indexes) and
  one UPDATE (the org's wallet row in bench_floor_wallet, as a hold reserves on the one wallet
  of the org): the floor of authorize with a hold.
- POST /bench/floor/usage?org=…: the usage endpoint's body, parsed, written by one plain
  INSERT (one array per column, as the console writes its events) into
  bench_floor_usageevent (billing_usageevent's shape and indexes; no foreign keys, counters,
  ledger or rollups): the floor of usage.

bench/floors.py creates and drops those tables in the bench's database. The bare database
floor of authorize is the console's own /readyz."""

import json
import uuid

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.dbvalues import batch_cursor, batch_table
from billing.usage.services import EVENT_COLUMNS, EVENT_TYPES
from config.urls import machine
from config.urls import urlpatterns as console

# About what a hold of the bench's requests reserves (gpt-4o-mini, its worst output).
HOLD_MICROS = 11_800


@csrf_exempt
@require_POST
def write_floor(request: HttpRequest) -> JsonResponse:
    org, key = request.GET["org"], request.GET["key"]
    team = request.GET.get("team") or None
    request_id = uuid.uuid4().hex
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_floor_hold (id, org_id, request_id, key_id, team_id,"
            " amount_micros, created_at, expires_at, closed_at, model, rate_limited)"
            " VALUES (%s, %s, %s, %s, %s, %s, now(), now() + interval '10 minutes', NULL, '',"
            " false)",
            [uuid.uuid4(), org, request_id, key, team, HOLD_MICROS],
        )
        cursor.execute(
            "UPDATE bench_floor_wallet SET held_micros = held_micros + %s WHERE org_id = %s",
            [HOLD_MICROS, org],
        )
    return JsonResponse({"allowed": True, "request_id": request_id})


@csrf_exempt
@require_POST
def usage_floor(request: HttpRequest) -> JsonResponse:
    org = request.GET["org"]
    events = json.loads(request.body)["events"]
    rows = [
        (
            org,
            e["request_id"],
            e["key_id"],
            None,
            e["model"],
            e["input_tokens"],
            e["output_tokens"],
            round((e["input_tokens"] * 0.15 + e["output_tokens"] * 0.60) * 1.2),
            e["status_code"],
            e.get("latency_ms"),
            e["occurred_at"],
        )
        for e in events
    ]
    # As the console writes its events: one array per column (billing.dbvalues.batch_table),
    # the fastest plain INSERT of a batch through psycopg.
    table, params = batch_table(rows, EVENT_TYPES)
    with batch_cursor() as cursor:
        cursor.execute(
            f"WITH batch ({EVENT_COLUMNS}) AS ({table})"  # noqa: S608 (constants)
            f" INSERT INTO bench_floor_usageevent ({EVENT_COLUMNS}, received_at)"
            " SELECT *, now() FROM batch",
            params,
        )
    return JsonResponse({"recorded": len(events)})


urlpatterns = [
    path("bench/floor/write", machine(write_floor)),
    path("bench/floor/usage", machine(usage_floor)),
    *console,
]
