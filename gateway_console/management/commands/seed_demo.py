from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from audit import Actor
from gateway_console.models import Membership, Org, Role, Team, User
from gateway_console.services import add_member, create_org, create_team
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

    def handle(self, *args, keys: int, **options):
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
        self._seed_keys(org, teams, keys, system)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Sign in as {OWNER} (owner), admin@, member@ or auditor@acme.example")
        self.stdout.write(f"  Password: {DEMO_PASSWORD}")

    def _seed_keys(self, org, teams, wanted: int, system: Actor) -> None:
        have = Key.objects.filter(org=org).count()
        team_cycle = [teams["Platform"], teams["Search"], teams["Support"], None]
        now = timezone.now()
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
