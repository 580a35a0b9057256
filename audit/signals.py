"""What the audit app tells the layers above it, which it never imports."""

from django.dispatch import Signal

# Sent by audit.anchor.anchor_chains after it wrote new checkpoints to AUDIT_ANCHOR_DIR, with
# `checkpoints`: the signed lines written (dicts; an org's chain is "org:<org id>"). A layer
# above may pass them on (to an org's alert webhook, say); nothing in the console does yet.
checkpoints_written = Signal()
