"""gunicorn for Gateway Console: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Environment: BIND (127.0.0.1:8000), WEB_WORKERS (2 × cores + 1), WEB_WORKER_CLASS (sync: the
lowest latency for the gateway's short calls; gthread for console pages that stream long
exports), WEB_THREADS (4, gthread only), ACCESS_LOG / ERROR_LOG (a file, or - for the
terminal), LOG_LEVEL (info). Access and error lines are redacted: a key a gateway or client sends
in a query or a header never reaches them (config.logs).
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
worker_class = os.environ.get("WEB_WORKER_CLASS", "sync")
threads = int(os.environ.get("WEB_THREADS", "4"))
accesslog = os.environ.get("ACCESS_LOG", "-")
errorlog = os.environ.get("ERROR_LOG", "-")
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "config.logs.RedactingGunicornLogger"
# Behind a proxy on the same host or network: its X-Forwarded-* are believed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
