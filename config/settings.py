"""Settings for Gateway Console.

Every setting that differs between machines comes from the environment; README.md lists them
with their defaults. With no environment at all the console runs on the embedded default:
SQLite and no Redis.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from config import database_roles, retention
from config.environment import env_bool, env_count, env_list, required_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CONSOLE_VAR_DIR", BASE_DIR / "var"))


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = required_secret(
    "SECRET_KEY", "dev-only-secret-key-do-not-use-in-production-0123456789", debug=DEBUG
)
# The pepper of HMAC-SHA256(KEY_PEPPER, key): the only form in which an API key is stored
# (docs/contract.md section 1). Changing it invalidates every key.
KEY_PEPPER = required_secret(
    "KEY_PEPPER", "dev-only-key-pepper-do-not-use-in-production", debug=DEBUG
)
KEY_PREFIX = os.environ.get("KEY_PREFIX", "sk-gw-")
# Longest grace period an admin may give the old secret when rotating a key.
ROTATION_GRACE_MAX_HOURS = 24
# The gateway proves itself with X-Gateway-Token: one of these (comma-separated, for rotation).
GATEWAY_TOKENS = env_list("GATEWAY_TOKENS", "dev-gateway-token" if DEBUG else "")
# An authorize hold that no usage event settles is released after this many seconds.
HOLD_TTL = int(os.environ.get("HOLD_TTL", "600"))
# Reverse proxies between the clients and the console, each appending to X-Forwarded-For.
PROXY_COUNT = env_count("PROXY_COUNT", "proxies in front")
# Proxies in front of the gateway, before it appends its own client to X-Forwarded-For and asks
# authorize: where authorize finds the address a key's allowlist is checked against.
GATEWAY_PROXY_COUNT = env_count("GATEWAY_PROXY_COUNT", "proxies in front of the gateway")
# authorize reads at most this much of a forwarded request body (the model, max_tokens and the
# prompt's size come from it). A gateway forwards no more than this: Traefik's ForwardAuth
# maxBodySize and the gateway's own body limit stay at or below it (docs/gateway.md).
GATEWAY_MAX_BODY_BYTES = int(os.environ.get("GATEWAY_MAX_BODY_BYTES", str(8 * 1024 * 1024)))
# Each web process adds its gateway traffic figures (the gateway page) to the database at most
# this often: never a write per request.
GATEWAY_TRAFFIC_FLUSH_SECONDS = float(os.environ.get("GATEWAY_TRAFFIC_FLUSH_SECONDS", "5"))
# last_used_at is precise to this many seconds: at most one write per key per interval.
LAST_USED_PRECISION = 60

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if DEBUG:
    ALLOWED_HOSTS += ["testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    # Sessions that record their user, browser and address (the sessions page): in place of
    # django.contrib.sessions, with the same database engine.
    "user_sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # The admin API's docs page (Swagger UI) from ninja's own static files, not a CDN.
    "ninja",
    "gateway_console",
    "accounts",
    "keys",
    "billing",
    "audit",
    # Last: the wiring, for the commands that use every app (seed_demo).
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (below, SECURITY HEADERS).
    "config.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "gateway_console.middleware.RequestIdMiddleware",
    # The Host checked against ALLOWED_HOSTS, and every answer's Content-Length: machine calls
    # need both too.
    "django.middleware.common.CommonMiddleware",
    # The gateway's and the secret scanners' calls go to their views from here: what follows is
    # for people in a browser (config.middleware.MachineCallMiddleware).
    "config.middleware.MachineCallMiddleware",
    # Sessions record the client's address behind PROXY_COUNT proxies and its browser.
    "accounts.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session was signed in with a second factor.
    "accounts.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The idle and absolute timeouts of a signed-in session (after messages: it says why).
    "accounts.middleware.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "gateway_console.middleware.CurrentMembershipMiddleware",
    # Owners and admins of an org that requires two-factor enrol before anything else.
    "accounts.middleware.TwoFactorRequiredMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during sign-in into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gateway_console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    # An empty DATABASE_URL means the same as none: the embedded default.
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'console.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
    )
}
# Migrations as the tables' owner, the console as an app role (config.database_roles).
MIGRATE_DATABASE = database_roles.owner_database(
    os.environ.get("MIGRATE_DATABASE_URL", ""), DATABASES["default"]
)
# authorize prepares its key query and its hold statement once per connection (psycopg's
# prepared statements, billing.dbvalues.prepared_cursor). Turn off behind a pooler in
# transaction mode, where a session's prepared statements do not follow it.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the Celery worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "gateway_console.User"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "console",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions live in the database so that any web process can serve any request, with their
# user, browser and address (django-user-sessions), for the sessions page.
SESSION_ENGINE = "accounts.session_store"
# A signed-in session ends after this long without a request, and this long after sign-in
# whatever happens (accounts.middleware.SessionTimeoutMiddleware).
SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
SESSION_ABSOLUTE_HOURS = float(os.environ.get("SESSION_ABSOLUTE_HOURS", "12"))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_HOURS * 60 * 60)
# A sensitive action (accounts.step_up) needs a sign-in or a fresh code within this long.
STEP_UP_MINUTES = float(os.environ.get("STEP_UP_MINUTES", "10"))
# Invitations to an org are valid this long; password reset links this long.
INVITATION_DAYS = 7
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_MINUTES", "60")) * 60
# The issuer an authenticator app shows beside a TOTP code.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Gateway Console")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "gateway_console.throttle.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "sign-in"
LOGIN_REDIRECT_URL = "keys:list"
LOGOUT_REDIRECT_URL = "sign-in"

# Repeated sign-in failures are throttled per account *and* address: five failures for one
# email from one address lock that pair out for 15 minutes; other people are not affected.
AXES_FAILURE_LIMIT = int(os.environ.get("SIGN_IN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("SIGN_IN_COOLOFF_HOURS", "0.25"))
# Wider than the pair's limit (gateway_console.throttle): failures per account from any address,
# and per address on any account, within the same cool-off window.
SIGN_IN_ACCOUNT_FAILURE_LIMIT = int(os.environ.get("SIGN_IN_ACCOUNT_FAILURE_LIMIT", "20"))
SIGN_IN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("SIGN_IN_ADDRESS_FAILURE_LIMIT", "20"))
SIGN_IN_THROTTLE_PREFIX = "sign-in"  # of their cache keys (each test has its own)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# The client's address behind PROXY_COUNT reverse proxies (gateway_console.actors.client_ip):
# what sign-in throttling counts, and what audit events record.
AXES_CLIENT_IP_CALLABLE = "gateway_console.actors.client_ip"
AXES_VERBOSE = False

# Retention (config.retention; README, Configuration): usage events, sign-in logs, alerts and
# reconciliation findings older than these are deleted daily by config.tasks.prune, in batches
# of RETENTION_BATCH_SIZE rows, each its own short transaction. The audit log is never pruned.
USAGE_RETENTION_DAYS = retention.usage_retention_days()
ALERT_RETENTION_DAYS = retention.alert_retention_days()
FINDING_RETENTION_DAYS = retention.finding_retention_days()
SIGN_IN_LOG_RETENTION_DAYS = retention.sign_in_log_retention_days(AXES_COOLOFF_TIME)
# GitHub's secret-scanning public keys (its /meta/public_keys/secret_scanning document, saved
# to a file): what signs the leaked-key reports of /api/v1/secret-scanning/leaks (keys.leak_api).
SECRET_SCANNING_KEYS_FILE = os.environ.get("SECRET_SCANNING_KEYS_FILE", "")
# The console's own address, for links in emails sent by tasks (a scheduled rotation's link);
# empty: the emails give the page's path.
CONSOLE_URL = os.environ.get("CONSOLE_URL", "").rstrip("/")
# Where keys were seen from (the key page shows 7 days; a rotation's grace at most one).
KEY_SIGHTING_RETENTION_DAYS = 30
# A show-once nonce only guards against a resubmitted form: a day is plenty.
SHOWN_NONCE_RETENTION_HOURS = 24
RETENTION_BATCH_SIZE = 5000

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

# Secure transport whenever DEBUG is off (python manage.py check --deploy is clean).
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Secure cookies carry the __Host- prefix: Path=/ and no Domain, so that no other host (a
    # sibling subdomain) can set or shadow them.
    SESSION_COOKIE_NAME = "__Host-session"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# JavaScript reads no cookie: htmx takes the CSRF token from the page (base.html).
CSRF_COOKIE_HTTPONLY = True

# SECURITY HEADERS. Scripts, styles, images and fetches come from the console itself: no inline
# script, handler or style attribute anywhere (tests/config/test_security_headers.py walks every
# page), and htmx may neither eval nor run scripts in what it swaps in (base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # data: for the SVG and PNG images that Swagger UI (the API's docs page) inlines.
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Nothing in the console uses these; a page that is ever injected cannot either. The copy
# buttons keep clipboard-write (for the console itself only).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
} | {"clipboard-write": ["self"], "clipboard-read": []}

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport, a real broker
# that needs no server (the embedded default).
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# Audit anchoring (audit.anchor): every AUDIT_ANCHOR_EVERY_SECONDS (config.celery) each audit
# chain's head is signed with this Ed25519 key, which the database never holds, into JSON lines
# files in AUDIT_ANCHOR_DIR. No key: nothing is signed (check --deploy warns). The public key
# (comma-separated while rotating) verifies them: verify_audit_chain --checkpoints.
AUDIT_ANCHOR_KEY = os.environ.get("AUDIT_ANCHOR_KEY", "")
AUDIT_ANCHOR_PUBLIC_KEY = os.environ.get("AUDIT_ANCHOR_PUBLIC_KEY", "")
AUDIT_ANCHOR_DIR = Path(os.environ.get("AUDIT_ANCHOR_DIR") or VAR_DIR / "audit-checkpoints")
# Where audit.prune writes an opted-in org's events before pruning them.
AUDIT_EXPORT_DIR = Path(os.environ.get("AUDIT_EXPORT_DIR") or VAR_DIR / "audit-exports")

# Email: alerts go to each org's owners and admins. With DEBUG on, the console backend prints
# them to the terminal; otherwise SMTP, configured from the environment.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Gateway Console <alerts@localhost>")
# Seconds an alert webhook receiver has to answer before the attempt counts as failed.
ALERT_WEBHOOK_TIMEOUT = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT", "5"))

# Alert webhooks go only to public addresses unless this is on (server-side request forgery).
ALERT_WEBHOOK_ALLOW_PRIVATE = env_bool("ALERT_WEBHOOK_ALLOW_PRIVATE", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line redacted: no key, token or credential header reaches a log (config.logs).
    "formatters": {
        "plain": {
            "()": "config.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

KEYS_PAGE_SIZE = 25
