"""A person removed from an org is signed out at once, whichever way the membership goes: the
members page, the admin API, or platform staff in Django admin."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from accounts.members import end_sessions
from gateway_console.models import Membership


@receiver(post_delete, sender=Membership, dispatch_uid="accounts-removal-ends-sessions")
def removal_ends_sessions(sender, instance: Membership, **kwargs) -> None:
    end_sessions(instance.user)
