"""The append-only, hash-chained log of confirmed actions.

`audit.record(...)` is the only way an event enters the log; services call it once, inside the
transaction of the change they make.
"""

from audit.actors import Actor

__all__ = ["Actor", "record"]


def record(**kwargs):
    from audit.services import record

    return record(**kwargs)
