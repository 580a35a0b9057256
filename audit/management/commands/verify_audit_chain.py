from django.core.management.base import BaseCommand, CommandError

from audit.chain import ChainBreak, check_platform_chain, first_break
from gateway_console.models import Org


class Command(BaseCommand):
    help = (
        "Checks every org's audit chain and the platform log's (or one org's); exits non-zero "
        "naming the first broken event."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--org", help="The org's slug; every org and the platform log when left out."
        )

    def handle(self, *args, org: str | None, **options):
        orgs = Org.objects.order_by("slug")
        if org:
            orgs = orgs.filter(slug=org)
            if not orgs.exists():
                raise CommandError(f"No org with the slug {org!r}.")
        found = [self._report(each.slug, first_break(each)) for each in orgs]
        if not org:
            found.append(self._report("platform log", check_platform_chain().broken))
        broken = [each for each in found if each]
        if broken:
            raise CommandError(f"The audit chain does not hold: {broken[0]}")
        self.stdout.write(self.style.SUCCESS("Every audit chain holds."))

    def _report(self, name: str, broken: ChainBreak | None) -> ChainBreak | None:
        if broken:
            self.stderr.write(f"BROKEN {broken}")
        else:
            self.stdout.write(f"ok {name}")
        return broken
