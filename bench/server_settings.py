"""The settings of the gunicorn that `make bench` starts: the console's own, with the bench's
floor endpoints (bench/server_urls.py) routed before the console's. Only the bench loads this
module (DJANGO_SETTINGS_MODULE=bench.server_settings in bench/run.py's SERVER_ENV): the console
ships no write endpoint for benchmarks."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.server_urls"
