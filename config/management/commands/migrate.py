"""Django's `migrate`, run as the table owner when MIGRATE_DATABASE_URL is set, followed by the
app role's grants (config.database_roles)."""

from django.conf import settings
from django.core.management.commands import migrate
from django.db import connections

from config import database_roles


class Command(migrate.Command):
    help = (
        f"{migrate.Command.help} With MIGRATE_DATABASE_URL set (PostgreSQL), runs as that owner"
        " role, then grants DATABASE_URL's role what the console needs."
    )

    def handle(self, *args, **options):
        owner = settings.MIGRATE_DATABASE
        if owner is None or options["database"] != "default":
            return super().handle(*args, **options)
        connection = connections[options["database"]]
        with database_roles.as_owner(connection, owner) as app_role:
            super().handle(*args, **options)
            guarded = database_roles.grant_app_role(connection, app_role)
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Granted {app_role} the console's privileges; append-only for it:"
                f" {', '.join(guarded)}."
            )
