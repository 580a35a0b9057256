"""What tenancy tells the layers above it, inside the transaction of the change."""

from django.dispatch import Signal

# An org was created (create_org): billing opens its wallet. Arguments: org.
org_created = Signal()
