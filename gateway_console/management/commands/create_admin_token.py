from django.core.management.base import BaseCommand, CommandError

from gateway_console.actors import Actor
from gateway_console.admin_tokens import (
    EXPIRY_DEFAULT,
    EXPIRY_MAX,
    EXPIRY_MIN,
    AdminTokenActionRefused,
    create_admin_token,
)
from gateway_console.models import Org


class Command(BaseCommand):
    help = (
        "Creates an admin API token for an organisation and prints it, once: only its hash is "
        "kept. The token alone goes to standard output, so that a script can capture it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument(
            "--read-only", action="store_true", help="The token may read but change nothing."
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=EXPIRY_DEFAULT.days,
            help=f"Days until the token expires, {EXPIRY_MIN.days} to {EXPIRY_MAX.days} "
            f"(default {EXPIRY_DEFAULT.days}).",
        )

    def handle(self, *args, org: str, name: str, read_only: bool, expires_in_days: int, **options):
        organisation = Org.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"There is no organisation with the slug {org!r}.")
        try:
            token, plaintext = create_admin_token(
                org=organisation,
                actor=Actor.system("create_admin_token command"),
                name=name,
                read_only=read_only,
                expires_in_days=expires_in_days,
            )
        except AdminTokenActionRefused as refused:
            raise CommandError(str(refused)) from None
        self.stderr.write(
            f"Created the {token.access_label.lower()} admin token {token.name!r} "
            f"({token.preview}) for {organisation.name}, expiring {token.expires_at:%Y-%m-%d %H:%M} "
            "UTC. It is shown only this once:"
        )
        self.stdout.write(plaintext)
