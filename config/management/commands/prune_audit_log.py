"""Exports, then prunes, the audit events of each org that opted in (audit.prune): as the
tables' owner when MIGRATE_DATABASE_URL is set, since the console's own role may not delete an
audit event (config.database_roles)."""

from contextlib import nullcontext
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from audit import prune
from config import database_roles
from gateway_console.models import Org


class Command(BaseCommand):
    help = (
        "Exports, then prunes, the audit events older than each opted-in org's retention, up to "
        "the newest signed checkpoint; as MIGRATE_DATABASE_URL's owner role when it is set."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="The org's slug; every org that opted in when left out.")

    def handle(self, *args, org: str | None, **options):
        owner = settings.MIGRATE_DATABASE
        connection = connections["default"]
        with database_roles.as_owner(connection, owner) if owner else nullcontext():
            if not prune.may_delete():
                raise CommandError(
                    "This database role may not delete audit events: set MIGRATE_DATABASE_URL"
                    " to the tables' owner (docs/database-roles.md)."
                )
            now = datetime.now(UTC)
            if org is None:
                results = prune.prune_due(now)
            else:
                found = Org.objects.filter(slug=org).first()
                if found is None:
                    raise CommandError(f"No org with the slug {org!r}.")
                results = [prune.prune_org(found, now=now)]
        for result in results:
            self.stdout.write(str(result))
        if not results:
            self.stdout.write("No org prunes its audit log.")
