"""The data `make bench` measures on (bench/run.py; `make soak` seeds the same): an org with
its keys, stored as the console stores them, in bulk; keys with every control and none; and
counters whose periods have ended, for the reset figures. Django must be set up (seed() does
it) and the database migrated."""

import secrets
from datetime import UTC, datetime, timedelta


def bench_key(**fields):
    """A key as the console stores one (hash, display prefix, last four), not yet saved, and its
    plaintext: the bench saves its keys in bulk."""
    from gateway_console import secret
    from keys.models import Key

    plaintext = secret.new_secret()
    key = Key(
        secret_hash=secret.secret_hash(plaintext),
        display_prefix=secret.display_prefix(plaintext),
        last4=secret.last4(plaintext),
        **fields,
    )
    return key, plaintext


def seed(keys: int) -> dict:
    """An org with a plan, prices, a funded wallet, two teams and `keys` keys (bulk, as the
    console stores them: hash, display prefix, last four)."""
    import django

    django.setup()
    from decimal import Decimal

    from billing.ledger.models import ModelPrice, Plan, Wallet
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
    for i in range(keys):
        key, plaintext = bench_key(
            org=org,
            team=teams[i % 2],
            name=f"bench-{i}",
            monthly_spend_cap=Decimal("1000000") if i % 2 else None,
        )
        plaintexts.append(plaintext)
        rows.append(key)
    Key.objects.bulk_create(rows, batch_size=2000)
    ids = list(Key.objects.filter(org=org).order_by("name").values_list("id", flat=True))
    return {"plaintexts": plaintexts, "key_ids": [str(i) for i in ids]}


def seed_compared_keys(count: int) -> dict:
    """`count` keys with no control, and `count` with every per-key control set so
    that the bench's requests pass: an allowlist with the bench's client address, a model scope with the model
    asked for, caps, budgets per model, a token limit and a rate limit that no run reaches, a running temporary
    increase, an expiry, and a rotation schedule (which authorize does not read). In seed()'s
    org, apart from its keys (`make soak` seeds those too), in bulk like them. Tokens per
    minute and requests in flight are left out: they hold on a gateway that reports usage
    (a hold in the database per request, and a usage event to end it), which these requests
    do not; authorize_hold figures measure that path."""
    from decimal import Decimal

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
        for i in range(count):
            key, plaintext = bench_key(
                org=org, team=teams[i % 2], name=f"bench-{kind}-{i}", **controls
            )
            plaintexts[kind].append(plaintext)
            rows.append(key)
    Key.objects.bulk_create(rows, batch_size=2000)
    return plaintexts


def seed_ended_periods(keys: int) -> str:
    """A new org (Europe/Berlin) whose `keys` keys (half monthly, half daily, across two
    weekly teams) each have a month and a limit counter, and whose teams have one, all in a
    period that ended an hour ago. Set-based (generate_series), then ANALYZE, as autovacuum
    would after such a load. Returns the org's id."""
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
    return str(org_id)
