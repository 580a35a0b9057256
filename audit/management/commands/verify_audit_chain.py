from django.core.management.base import BaseCommand, CommandError

from audit.chain import first_break
from gateway_console.models import Org


class Command(BaseCommand):
    help = "Checks every org's audit chain (or one org's); exits non-zero naming the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="The org's slug; all orgs when left out.")

    def handle(self, *args, org: str | None, **options):
        orgs = Org.objects.order_by("slug")
        if org:
            orgs = orgs.filter(slug=org)
            if not orgs.exists():
                raise CommandError(f"No org with the slug {org!r}.")
        broken = []
        for each in orgs:
            found = first_break(each)
            if found:
                broken.append(found)
                self.stderr.write(f"BROKEN {found}")
            else:
                self.stdout.write(f"ok {each.slug}")
        if broken:
            raise CommandError(f"The audit chain does not hold: {broken[0]}")
        self.stdout.write(self.style.SUCCESS("Every audit chain holds."))
