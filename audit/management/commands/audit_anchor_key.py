from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand, CommandError

from audit.anchor_keys import AnchorKeyError, encode_private_key, encode_public_key, signing_key


class Command(BaseCommand):
    help = (
        "Prints a new Ed25519 key for audit anchoring, as AUDIT_ANCHOR_KEY=… and "
        "AUDIT_ANCHOR_PUBLIC_KEY=… lines; with --public, the public key of the configured "
        "AUDIT_ANCHOR_KEY."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--public",
            action="store_true",
            help="Print the public key of the configured AUDIT_ANCHOR_KEY instead.",
        )

    def handle(self, *args, public: bool, **options):
        if public:
            try:
                key = signing_key()
            except AnchorKeyError as error:
                raise CommandError(str(error)) from None
            if key is None:
                raise CommandError("AUDIT_ANCHOR_KEY is not set.")
            self.stdout.write(f"AUDIT_ANCHOR_PUBLIC_KEY={encode_public_key(key.public_key())}")
            return
        key = Ed25519PrivateKey.generate()
        self.stdout.write(f"AUDIT_ANCHOR_KEY={encode_private_key(key)}")
        self.stdout.write(f"AUDIT_ANCHOR_PUBLIC_KEY={encode_public_key(key.public_key())}")
