"""gunicorn for Gateway Console: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Environment: BIND (127.0.0.1:8000), WEB_WORKERS (2 × cores + 1), WEB_WORKER_CLASS (sync: the
lowest latency for the gateway's short calls; gthread for console pages that stream long
exports), WEB_THREADS (4, gthread only), WEB_KEEPALIVE (0: no keep-alive; gthread only),
ACCESS_LOG / ERROR_LOG (a file, or - for the terminal), LOG_LEVEL (info). Access and error lines
are redacted: a key a gateway or client sends in a query or a header never reaches them
(config.logs).
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
worker_class = os.environ.get("WEB_WORKER_CLASS", "sync")
# gunicorn runs gthread whenever threads > 1, whatever worker_class says: threads only for gthread.
threaded = worker_class in ("gthread", "gunicorn.workers.gthread.ThreadWorker")
threads = int(os.environ.get("WEB_THREADS", "4")) if threaded else 1
# Every response closes its connection (sync workers always do). A kept-alive connection that
# the server closes after `keepalive` idle seconds races a gateway that sends its next request on
# it at that moment: the gateway reads a reset and answers its client 503, since it may not
# resend an authorize call that carries a body. Keep-alive is safe only when the gateway gives up
# idle connections first: set WEB_KEEPALIVE above its idle timeout, never below.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "0"))
accesslog = os.environ.get("ACCESS_LOG", "-")
errorlog = os.environ.get("ERROR_LOG", "-")
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "config.logs.RedactingGunicornLogger"
# Behind a proxy on the same host or network: its X-Forwarded-* are believed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
