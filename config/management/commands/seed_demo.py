import random
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.members import set_two_factor_required
from audit import Actor
from audit.models import AuditEvent
from audit.services import Entry, record_many
from billing.ledger.models import ModelPrice, Plan, Wallet
from billing.ledger.services import top_up_wallet
from billing.limits.services import create_team
from billing.usage import traffic
from billing.usage.models import UsageEvent
from billing.usage.services import MAX_BATCH, record_batch
from gateway_console.models import Membership, Org, Role, Team, User
from gateway_console.services import add_member, create_org
from keys import services as key_services
from keys.models import Key, KeyType

DEMO_SLUG = "acme"
DEMO_PASSWORD = "demo-password-2026"
OWNER = "owner@acme.example"
PEOPLE = [
    ("admin@acme.example", Role.ADMIN, []),
    ("member@acme.example", Role.MEMBER, ["Search"]),
    ("auditor@acme.example", Role.AUDITOR, []),
]
TEAMS = ["Platform", "Search", "Support"]
# Beyond this many keys, seed_demo inserts keys in bulk (the benchmark's data sets).
BULK_FROM = 200
# model, $ per million input tokens, $ per million output tokens, longest answer in tokens
PRICES = [
    ("gpt-4o-mini", "0.15", "0.60", 16384),
    ("gpt-4o", "2.50", "10.00", 16384),
    ("claude-3-5-haiku", "0.80", "4.00", 8192),
    ("claude-sonnet-4", "3.00", "15.00", 64000),
    ("gemini-2.0-flash", "0.10", "0.40", 8192),
]
APPS = [
    "billing",
    "search-api",
    "chat-widget",
    "support-bot",
    "indexer",
    "reports",
    "eval-runner",
    "summariser",
    "translator",
    "ingest",
    "notebook",
    "mobile-app",
]


class Command(BaseCommand):
    help = "Creates the demo org with people, teams and keys. Running it again adds nothing twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--keys", type=int, default=len(APPS), help="How many keys the demo org should have."
        )
        parser.add_argument(
            "--events",
            type=int,
            default=3000,
            help="Usage events the demo org should have over the last 30 days.",
        )
        parser.add_argument(
            "--audit",
            type=int,
            default=0,
            help="Audit events the demo org should have at least (bulk, a valid chain).",
        )

    def handle(self, *args, keys: int, events: int, audit: int, **options):
        system = Actor.system("seed_demo")
        org = Org.objects.filter(slug=DEMO_SLUG).first()
        if org is None:
            org, _ = create_org(
                name="Acme AI",
                owner_email=OWNER,
                owner_password=DEMO_PASSWORD,
                actor=system,
                timezone="Europe/Berlin",
            )
            if org.slug != DEMO_SLUG:
                Org.objects.filter(pk=org.pk).update(slug=DEMO_SLUG)
                org.refresh_from_db()
            # A new org requires two-factor of its owners and admins. The demo leaves it to each
            # person, so that the printed sign-in works without a phone (an owner turns it on
            # under Members, Sign-in security).
            set_two_factor_required(org=org, require=False, actor=system)
        teams = {}
        for name in TEAMS:
            teams[name] = Team.objects.filter(org=org, name=name).first() or create_team(
                org=org, actor=system, name=name
            )
        for email, role, team_names in PEOPLE:
            if not Membership.objects.filter(org=org, user__email=email).exists():
                add_member(
                    org=org,
                    actor=system,
                    email=email,
                    role=role,
                    teams=[teams[t] for t in team_names],
                    password=DEMO_PASSWORD
                    if not User.objects.filter(email=email).exists()
                    else None,
                )
        self._seed_prices(org, system)
        self._seed_keys(org, teams, keys, system)
        # A month of history, not gateway traffic: the gateway page counts what gateways send.
        with traffic.meter.paused():
            self._seed_usage(org, events, system)
        self._seed_audit(org, audit)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Sign in as {OWNER} (owner), admin@, member@ or auditor@acme.example")
        self.stdout.write(f"  Password: {DEMO_PASSWORD}")

    def _seed_prices(self, org, system: Actor) -> None:
        for model, price_in, price_out, max_out in PRICES:
            ModelPrice.objects.get_or_create(
                model=model,
                defaults={
                    "input_per_million": Decimal(price_in),
                    "output_per_million": Decimal(price_out),
                    "max_output_tokens": max_out,
                },
            )
        plan, _ = Plan.objects.get_or_create(
            name="pro", defaults={"price_multiplier": Decimal("1.20")}
        )
        if org.plan_id is None:
            Org.objects.filter(pk=org.pk).update(plan=plan)
        wallet = Wallet.objects.filter(org=org).first()
        if wallet is None or (
            wallet.balance_micros == 0 and not UsageEvent.objects.filter(org=org).exists()
        ):
            top_up_wallet(org=org, actor=system, amount=Decimal("500.00"), reason="demo credit")

    def _seed_usage(self, org, count: int, system: Actor) -> None:
        """A month of gateway traffic up to `count` events, recorded the way the gateway reports
        it (so counters, wallet, ledger and events agree), in batches of 1,000."""
        have = UsageEvent.objects.filter(org=org).count()
        if count <= have:
            return
        keys = list(
            Key.objects.filter(org=org).exclude(status="deleted").values_list("id", "model_scope")
        )
        models = [m for m, *_ in PRICES]
        rng = random.Random(2026 + have)  # noqa: S311 (demo traffic, not a secret)
        now = timezone.now()
        batch = []
        for n in range(have, count):
            key_id, scope = keys[rng.randrange(len(keys))]
            age = timedelta(seconds=rng.randrange(30 * 24 * 3600))
            batch.append(
                {
                    "request_id": f"demo-{n:07d}",
                    "key_id": str(key_id),
                    "model": rng.choice(scope or models),
                    "input_tokens": rng.randrange(50, 4000),
                    "output_tokens": rng.randrange(10, 1200),
                    "status_code": 200 if rng.random() > 0.03 else rng.choice([400, 429, 500]),
                    "latency_ms": rng.randrange(150, 4000),
                    "occurred_at": (now - age).isoformat(),
                }
            )
            if len(batch) == MAX_BATCH:
                record_batch(batch)
                batch = []
                if n % 100_000 < MAX_BATCH:
                    self.stdout.write(f"  {n + 1:,} usage events…")
        if batch:
            record_batch(batch)
        balance = Wallet.objects.get(org=org).balance_micros
        if balance < 100_000_000:
            # Large data sets spend more than the demo credit: keep the demo org able to call.
            top_up_wallet(
                org=org,
                actor=system,
                amount=Decimal(500_000_000 - balance) / 1_000_000,
                reason="demo credit for the large data set",
            )

    def _seed_audit(self, org, wanted: int) -> None:
        """Bulk audit history (a data set for the audit pages and the export), appended to the
        chain through the audit service, 10,000 events a transaction. Stamped as they are
        written, like every event: a chain's times never go back."""
        have = AuditEvent.objects.filter(org=org).count()
        if wanted <= have:
            return
        keys = list(
            Key.objects.filter(org=org).only("id", "name", "display_prefix", "last4")[:5000]
        )
        people = ["admin@acme.example", "owner@acme.example"]
        actions = ["key.updated", "key.rotated", "key.disabled", "key.enabled"]
        rng = random.Random(7 + have)  # noqa: S311 (demo history, not a secret)
        for chunk_start in range(have, wanted, 10_000):
            entries = []
            for n in range(chunk_start, min(chunk_start + 10_000, wanted)):
                action = rng.choice(actions)
                actor = Actor(
                    type="user",
                    id="",
                    label=rng.choice(people),
                    role="admin",
                    ip_address="192.0.2.10",
                    user_agent="seed_demo",
                    request_id=f"seed-{n}",
                )
                entries.append(
                    Entry(
                        actor=actor,
                        action=action,
                        target=keys[rng.randrange(len(keys))],
                        changes=(
                            {"rpm_limit": {"before": 60, "after": 120}}
                            if action == "key.updated"
                            else None
                        ),
                    )
                )
            with transaction.atomic():
                record_many(org=org, entries=entries)
            self.stdout.write(f"  {min(chunk_start + 10_000, wanted):,} audit events…")

    def _seed_keys(self, org, teams, wanted: int, system: Actor) -> None:
        have = Key.objects.filter(org=org).count()
        team_cycle = [teams["Platform"], teams["Search"], teams["Support"], None]
        now = timezone.now()
        if wanted > BULK_FROM:
            self._seed_keys_in_bulk(org, team_cycle, max(have, BULK_FROM), wanted, system)
            wanted = BULK_FROM
        for i in range(have, wanted):
            app = APPS[i % len(APPS)]
            name = f"{app}-prod" if i < len(APPS) else f"{app}-{i}"
            settings_ = key_services.KeySettings(
                name=name,
                team=team_cycle[i % 4],
                user_id=f"svc-{app}" if i % 3 else "",
                type=KeyType.PROFILE if i % 5 == 4 else KeyType.STANDARD,
                profile="fast-and-cheap" if i % 5 == 4 else "",
                model_scope=("gpt-4o-mini", "claude-3-5-haiku") if i % 2 else (),
                monthly_spend_cap=Decimal(50 * (1 + i % 4)) if i % 4 != 3 else None,
                cost_limit=Decimal("10.00") if i % 6 == 1 else None,
                token_limit=2_000_000 if i % 6 == 2 else None,
                limit_period="daily" if i % 6 == 1 else "monthly",
                rpm_limit=60 * (1 + i % 3) if i % 4 != 3 else None,
                model_budgets={"gpt-4o": Decimal("25.00")} if i % 8 == 0 else {},
                tpm_limit=200_000 if i % 8 == 2 else None,
                max_in_flight=20 if i % 8 == 2 else None,
                expires_at=(now + timedelta(days=90)) if i % 7 == 5 else None,
            )
            with transaction.atomic():
                key, _ = key_services.create_key(org=org, actor=system, settings_=settings_)
                if i == 6:
                    key_services.disable_key(key=key, actor=system)
                if i == 2:
                    key_services.rotate_key(key=key, actor=system, grace_hours=0)
                if i == 10:
                    key_services.delete_key(key=key, actor=system)
                if i % 9 == 8:
                    Key.objects.filter(pk=key.pk).update(
                        last_used_at=now - timedelta(minutes=5 + i)
                    )
                elif i % 2:
                    Key.objects.filter(pk=key.pk).update(last_used_at=now - timedelta(hours=i))

    def _seed_keys_in_bulk(self, org, team_cycle, first: int, wanted: int, system: Actor) -> None:
        """Large data sets: keys imported through the key service (each made as the console
        makes it), 5,000 at a time, and one in fifty of them disabled as the console does."""
        for chunk_start in range(first, wanted, 5_000):
            numbers = range(chunk_start, min(chunk_start + 5_000, wanted))
            settings_list = [
                key_services.KeySettings(
                    name=f"{APPS[i % len(APPS)]}-{i}",
                    team=team_cycle[i % 4],
                    user_id=f"svc-{i % 997}",
                    monthly_spend_cap=Decimal(50 * (1 + i % 4)) if i % 4 != 3 else None,
                    rpm_limit=60 * (1 + i % 3) if i % 4 != 3 else None,
                )
                for i in numbers
            ]
            with transaction.atomic():
                made = key_services.import_keys(org=org, actor=system, settings_list=settings_list)
                disabled = [
                    key.pk for i, (key, _) in zip(numbers, made, strict=True) if i % 50 == 7
                ]
                if disabled:
                    key_services.change_keys(
                        org=org,
                        actor=system,
                        key_ids=disabled,
                        action=key_services.BatchAction.DISABLE,
                    )
            self.stdout.write(f"  {numbers[-1] + 1:,} keys…")
