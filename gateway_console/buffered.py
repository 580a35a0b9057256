"""Figures a web process keeps in memory and writes in one statement from a thread of its own,
every few seconds and when the process exits: what the gateway's hot path observes (traffic per
minute, the addresses a key is seen from) never costs it a write. A process that dies loses at
most one interval of them; they are for health and hygiene, never for money or security."""

import atexit
import logging
import os
import threading
import time
from collections.abc import Hashable

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


class BufferedWrites:
    """Subclasses name themselves, give `interval()` (seconds; 0 or less: write at once, for
    tests), `merge()` two entries of one key, and `write()` a batch."""

    name = "figures"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Hashable, object] = {}
        self._flusher_pid: int | None = None
        atexit.register(self.flush)

    def interval(self) -> float:
        raise NotImplementedError

    def merge(self, old, new):
        raise NotImplementedError

    def write(self, pending: dict) -> None:
        raise NotImplementedError

    def add(self, key: Hashable, entry) -> None:
        with self._lock:
            old = self._pending.get(key)
            self._pending[key] = entry if old is None else self.merge(old, entry)
        if self.interval() <= 0:
            self.flush()
        elif self._flusher_pid != os.getpid():
            self._start_flusher()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self.write(pending)
        except DatabaseError:
            # A few seconds of figures are dropped rather than kept growing while the database
            # is away.
            logger.warning("%s: %d dropped (database error)", self.name, len(pending))

    def reset(self) -> None:
        with self._lock:
            self._pending = {}

    def _start_flusher(self) -> None:
        # One thread per process, started by its first entry (a forked web worker starts its
        # own: the parent's thread does not survive the fork).
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_forever, name=self.name, daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.interval())
            try:
                self.flush()
            except Exception:
                logger.exception("%s: flush failed", self.name)
            finally:
                # A connection of its own, opened for each flush: none is held between them.
                connection.close()
