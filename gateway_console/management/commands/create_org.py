import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from gateway_console.actors import Actor
from gateway_console.models import User
from gateway_console.services import OrgActionRefused, create_org


class Command(BaseCommand):
    help = "Creates an organisation and its owner (password from CONSOLE_OWNER_PASSWORD, else asked for)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="The owner's email address.")
        parser.add_argument(
            "--timezone", default="UTC", help="Time zone in which quota periods are aligned."
        )

    def handle(self, *args, name: str, owner: str, timezone: str, **options):
        password = None
        if not User.objects.filter(email=owner.strip().lower()).exists():
            password = os.environ.get("CONSOLE_OWNER_PASSWORD")
            if not password:
                try:
                    password = getpass.getpass(f"Password for {owner}: ")
                except (EOFError, KeyboardInterrupt):
                    raise CommandError(
                        "No password: set CONSOLE_OWNER_PASSWORD or type one."
                    ) from None
            try:
                validate_password(password, User(email=owner))
            except ValidationError as invalid:
                raise CommandError(" ".join(invalid.messages)) from None
        try:
            org, user = create_org(
                name=name,
                owner_email=owner,
                owner_password=password,
                actor=Actor.system("create_org command"),
                timezone=timezone,
            )
        except OrgActionRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Created {org.name} (slug {org.slug}) with owner {user.email}.")
        )
