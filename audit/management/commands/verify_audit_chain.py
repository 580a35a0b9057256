from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.anchor_check import check_chain_starts, check_checkpoints
from audit.anchor_keys import AnchorKeyError, verifying_keys
from audit.chain import ChainBreak, check_platform_chain, first_break
from audit.prune import check_export
from gateway_console.models import Org


class Command(BaseCommand):
    help = (
        "Checks every org's audit chain and the platform log's (or one org's); exits non-zero "
        "naming the first broken event. With --checkpoints, also checks the chains against "
        "their signed checkpoints (audit anchoring), and every pruned chain's start against "
        "its. With --export, also checks exports of pruned events on their own."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--org", help="The org's slug; every org and the platform log when left out."
        )
        parser.add_argument(
            "--checkpoints",
            metavar="DIR",
            help="A directory of signed checkpoints (AUDIT_ANCHOR_DIR, or a copy of it): every "
            "checkpoint's signature must verify and its event must still have its hash.",
        )
        parser.add_argument(
            "--export",
            dest="exports",
            action="append",
            default=[],
            metavar="FILE",
            help="An export of pruned events (AUDIT_EXPORT_DIR/<org>/…jsonl); may be repeated: "
            "each must hash, link and end at its signed checkpoint's event.",
        )
        parser.add_argument(
            "--public-key",
            default="",
            help="The public key(s) that signed the checkpoints (base64 or PEM, comma-separated); "
            "AUDIT_ANCHOR_PUBLIC_KEY and AUDIT_ANCHOR_KEY's when left out.",
        )

    def handle(self, *args, org, checkpoints, public_key: str, exports: list[str], **options):
        orgs = Org.objects.order_by("slug")
        if org:
            orgs = orgs.filter(slug=org)
            if not orgs.exists():
                raise CommandError(f"No org with the slug {org!r}.")
        found = [self._report(each.slug, first_break(each)) for each in orgs]
        if not org:
            found.append(self._report("platform log", check_platform_chain().broken))
        broken = [str(each) for each in found if each]
        if checkpoints:
            broken += self._check_checkpoints(
                Path(checkpoints), public_key, orgs.first() if org else None
            )
        for path in exports:
            broken += self._check_export(Path(path), public_key)
        if broken:
            raise CommandError(f"The audit chain does not hold: {broken[0]}")
        self.stdout.write(self.style.SUCCESS("Every audit chain holds."))

    def _report(self, name: str, broken: ChainBreak | None) -> ChainBreak | None:
        if broken:
            self.stderr.write(f"BROKEN {broken}")
        else:
            self.stdout.write(f"ok {name}")
        return broken

    def _keys(self, public_key: str) -> dict:
        try:
            keys = verifying_keys(public_key)
        except AnchorKeyError as error:
            raise CommandError(str(error)) from None
        if not keys:
            raise CommandError(
                "No public key to verify checkpoints with: pass --public-key, or set "
                "AUDIT_ANCHOR_PUBLIC_KEY or AUDIT_ANCHOR_KEY."
            )
        return keys

    def _check_export(self, path: Path, public_key: str) -> list[str]:
        if not path.is_file():
            raise CommandError(f"No export {path}.")
        if (problem := check_export(path, self._keys(public_key))) is not None:
            self.stderr.write(f"BROKEN {problem}")
            return [problem]
        self.stdout.write(f"ok {path.name}")
        return []

    def _check_checkpoints(self, directory: Path, public_key: str, org) -> list[str]:
        if not directory.is_dir():
            raise CommandError(f"No checkpoint directory {directory}.")
        keys = self._keys(public_key)
        report = check_checkpoints(directory, keys, org=org)
        if not report.checked and report.holds:
            raise CommandError(f"No checkpoint to check in {directory}.")
        for failure in report.failures:
            self.stderr.write(f"BROKEN {failure}")
        for name, (held, top) in sorted(report.held.items()):
            self.stdout.write(f"ok {name}: {held} checkpoint(s), up to event #{top}")
        self.stdout.write(f"{report.checked} checkpoint(s) in {report.files} file(s) checked")
        starts = check_chain_starts(keys, org=org)
        for problem in starts:
            self.stderr.write(f"BROKEN {problem}")
        return [str(each) for each in report.failures] + starts
