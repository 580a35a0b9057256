"""What the console does in a day, run as the app role of config.database_roles against a
database migrated by the owner role (tests/config/test_database_roles.py starts it in a process
of its own, with DATABASE_URL naming the app role). Prints one JSON line of what it saw."""

import io
import json
import sys
from datetime import UTC, datetime, timedelta

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

import audit  # noqa: E402
from audit import Actor  # noqa: E402
from audit.tasks import anchor_chains  # noqa: E402
from billing.ledger.models import Plan  # noqa: E402
from billing.limits.resets import reset_periods_due  # noqa: E402
from billing.limits.tasks import release_expired_holds  # noqa: E402
from config.tasks import prune  # noqa: E402

GATEWAY_TOKEN = "roles-walk-gateway-token"


def main() -> dict:
    seen: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        seen["role"] = cursor.fetchone()[0]
    call_command("seed_demo", keys=8, events=200, stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_admin_token", org="acme", name="roles walk", stdout=out)
    admin = {"HTTP_AUTHORIZATION": f"Bearer {out.getvalue().strip().splitlines()[-1]}"}
    api = Client(**admin)
    created = api.post("/api/v1/keys", {"name": "roles walk"}, content_type="application/json")
    seen["create"] = created.status_code
    key = created.json()
    gateway = Client(HTTP_X_GATEWAY_TOKEN=GATEWAY_TOKEN)
    allowed = gateway.post(
        "/api/v1/gateway/authorize",
        HTTP_AUTHORIZATION=f"Bearer {key['key']}",
        HTTP_X_GATEWAY_MODEL="gpt-4o-mini",
        HTTP_X_GATEWAY_REPORTS_USAGE="true",
    )
    seen["authorize"] = allowed.status_code
    usage = gateway.post(
        "/api/v1/gateway/usage",
        {
            "request_id": allowed["X-Gateway-Request-Id"],
            "key_id": key["id"],
            "model": "gpt-4o-mini",
            "input_tokens": 1000,
            "output_tokens": 200,
            "status_code": 200,
            "latency_ms": 800,
            "occurred_at": datetime.now(UTC).isoformat(),
        },
        content_type="application/json",
    )
    seen["usage"] = usage.status_code
    seen["rotate"] = api.post(
        f"/api/v1/keys/{key['id']}/rotate", {"grace_hours": 1}, content_type="application/json"
    ).status_code
    seen["disable"] = api.post(f"/api/v1/keys/{key['id']}/disable").status_code
    seen["delete"] = api.delete(f"/api/v1/keys/{key['id']}").status_code

    browser = Client()
    signed_in = browser.post(
        "/sign-in/", {"username": "owner@acme.example", "password": "demo-password-2026"}
    )
    seen["sign_in"] = signed_in.status_code
    seen["pages"] = {path: browser.get(path).status_code for path in ("/keys/", "/audit/")}

    with transaction.atomic():  # what a staff change in Django admin writes (audit.staff)
        plan = Plan.objects.create(name="roles walk")
        audit.record_platform(
            actor=Actor.system("roles walk"), action="plan.created_by_staff", target=plan
        )

    later = datetime.now(UTC) + timedelta(days=400)
    seen["reset"] = reset_periods_due(now=later)
    seen["holds_released"] = release_expired_holds()
    seen["pruned"] = prune()
    seen["anchored"] = anchor_chains()
    verify = io.StringIO()
    call_command("verify_audit_chain", checkpoints=sys.argv[1], stdout=verify)
    seen["verify"] = verify.getvalue().strip().splitlines()[-1]
    return seen


if __name__ == "__main__":
    print(json.dumps(main()))
