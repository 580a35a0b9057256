"""Where each key is used from (KeySighting): authorize notes the gateway client's address and
user agent, and whether the old secret of a rotation was presented, for every request whose key
it found, allowed or refused; each web process writes them off the request's path
(gateway_console.buffered), at most once a minute per key, address, user agent and secret."""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import connection

from billing.dbvalues import db_id, db_time
from gateway_console.buffered import BufferedWrites

# How many (key, address, user agent, secret) a process remembers having written this minute
# before it starts afresh (it then writes each of them once more).
REMEMBERED = 50_000


class KeySightings(BufferedWrites):
    name = "key sightings"

    def __init__(self) -> None:
        super().__init__()
        self._minute: dict[tuple, datetime] = {}

    def interval(self) -> float:
        return settings.GATEWAY_TRAFFIC_FLUSH_SECONDS

    def merge(self, old: datetime, new: datetime) -> datetime:
        return max(old, new)

    def write(self, pending: dict) -> None:
        _upsert(pending)

    def seen(
        self, key_id: uuid.UUID, address: str | None, user_agent: str, old_secret: bool, now
    ) -> None:
        sighting = (key_id, address or "", user_agent, old_secret)
        minute = now.replace(second=0, microsecond=0)
        if self._minute.get(sighting) == minute:
            return
        if len(self._minute) >= REMEMBERED:
            self._minute = {}
        self._minute[sighting] = minute
        self.add(sighting, now)

    def reset(self) -> None:
        super().reset()
        self._minute = {}


def _upsert(pending: dict[tuple, datetime]) -> None:
    rows, params = [], []
    for (key_id, address, user_agent, old_secret), seen in sorted(
        pending.items(), key=lambda item: (str(item[0][0]), item[0][1:])
    ):
        rows.append("(%s, %s, %s, %s, %s, %s)")
        params += [db_id(key_id), address, user_agent, old_secret, db_time(seen), db_time(seen)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO keys_keysighting"
            " (key_id, address, user_agent, old_secret, first_seen, last_seen)"
            f" VALUES {', '.join(rows)}"
            " ON CONFLICT (key_id, address, user_agent, old_secret) DO UPDATE SET"
            " last_seen = CASE WHEN excluded.last_seen > keys_keysighting.last_seen"
            " THEN excluded.last_seen ELSE keys_keysighting.last_seen END",
            params,
        )


sightings = KeySightings()
