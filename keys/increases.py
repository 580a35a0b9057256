"""Temporary increases of a key's cap (docs/contract.md section 4, `limits.increase_*`): the
monthly spend cap or the cost limit raised by an amount until a time. authorize adds a running
increase to its cap (keys.authorize.lookup) and stops adding it the moment it ends; this module
then clears the lapsed increase from the key, with one `key.increase_lapsed` event each, so the
audit log says when the cap went back. Alerts keep to the cap as set: an increase is headroom,
and passing the usual cap is worth knowing."""

from datetime import datetime

from django.db import transaction

import audit
from audit import Actor
from keys.models import Key


def lapse_increases(*, now: datetime) -> int:
    """Clears every increase that ended at or before `now`; returns how many."""
    lapsed = 0
    for key_id in Key.objects.filter(increase_until__lte=now).values_list("pk", flat=True):
        lapsed += _lapse(key_id, now)
    return lapsed


@transaction.atomic
def _lapse(key_id, now: datetime) -> int:
    key = Key.objects.select_for_update().select_related("org").filter(pk=key_id).first()
    if key is None or key.increase_until is None or key.increase_until > now:
        return 0  # changed meanwhile: an admin renewed or removed it
    before = {"increase_cap": key.increase_cap, "increase_amount": key.increase_amount}
    ended = key.increase_until
    key.increase_cap, key.increase_amount, key.increase_until = "", None, None
    key.save(update_fields=["increase_cap", "increase_amount", "increase_until"])
    audit.record(
        org=key.org,
        actor=Actor.system("temporary increase"),
        action="key.increase_lapsed",
        target=key,
        changes=audit.diff(before, {"increase_cap": "", "increase_amount": None}),
        data={"ended_at": ended.isoformat()},
    )
    return 1
