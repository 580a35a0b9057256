from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.ledger.reconcile import reconcile_all


class Command(BaseCommand):
    help = (
        "Checks every org's wallet balance against its ledger and every key and team counter"
        " against its usage events. Records each difference for staff and exits non-zero;"
        " never corrects anything."
    )

    def handle(self, *args, **options):
        result = reconcile_all()
        self.stdout.write(
            f"Checked {result.wallets} wallets, {result.key_counters} key counters and"
            f" {result.team_counters} team counters."
        )
        self.stdout.write(f"And {result.model_counters} counters of keys' budgets per model.")
        self.stdout.write(
            f"Within the retained window only: usage events are kept"
            f" {settings.USAGE_RETENTION_DAYS} days, since"
            f" {result.window_start:%Y-%m-%d %H:%M} UTC; {result.outside_window} counter(s)"
            " whose period began earlier were not compared."
        )
        for finding in result.findings:
            self.stderr.write(f"DIFFERENCE {finding.get_kind_display()}: {finding.detail}")
        if result.findings:
            raise CommandError(
                f"{len(result.findings)} difference(s) found; recorded as reconciliation"
                " findings (Django admin), nothing was corrected."
            )
        self.stdout.write(self.style.SUCCESS("Every wallet and counter reconciles."))
