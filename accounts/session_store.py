"""django-user-sessions' database store (SESSION_ENGINE), writing a session's address and browser
with its next write instead of on the request that changed them: a session is written when its
data changes, or at most once a minute for its "last seen" (accounts.middleware), never on
every request."""

from user_sessions.backends import db


class SessionStore(db.SessionStore):
    def load(self):
        key, modified = self.session_key, self.modified
        data = super().load()
        if self.session_key == key:  # an existing session (a missing one was created anew)
            self.modified = modified
        return data
