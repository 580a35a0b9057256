"""django-user-sessions' database store (SESSION_ENGINE), with three of Django's own database
store's guarantees that it lacks:

- an ended session stays ended: saving one whose row was deleted meanwhile (a removal, "sign
  out everywhere else", a password reset, while one of its requests was in flight) raises
  UpdateError instead of inserting the row again;
- a cookie naming no session makes no row (Django starts a new session only when something is
  stored in it), so made-up cookies cannot fill the table;
- a session's address and browser are written with its next write, not on every request that
  changed them: a session is written when its data changes, or at most once a minute for its
  "last seen" (accounts.middleware).
"""

from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError, IntegrityError, router, transaction
from django.utils import timezone
from user_sessions.backends import db
from user_sessions.models import Session


class SessionStore(db.SessionStore):
    # The client's address, worked out when the session is written (accounts.middleware).
    client_ip = None

    def load(self):
        try:
            row = Session.objects.get(session_key=self.session_key, expire_date__gt=timezone.now())
        except (Session.DoesNotExist, SuspiciousOperation):
            self._session_key = None
            return {}
        self.user_id = row.user_id
        return self.decode(row.session_data)

    def save(self, must_create=False):
        if self.session_key is None:
            return self.create()
        if self.client_ip is not None:
            self.ip = self.client_ip()
        row = Session(
            session_key=self._get_or_create_session_key(),
            session_data=self.encode(self._get_session(no_load=must_create)),
            expire_date=self.get_expiry_date(),
            user_agent=self.user_agent,
            user_id=self.user_id,
            ip=self.ip,
        )
        using = router.db_for_write(Session, instance=row)
        try:
            with transaction.atomic(using):
                row.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError:
            if must_create:
                raise CreateError from None
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None
            raise
