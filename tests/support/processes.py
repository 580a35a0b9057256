"""Real Celery processes beside a test (tests/config/test_celery_beat.py,
tests/flows/faults/test_reset_faults.py): the test database's URL for them, starting, stopping."""

import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url(application_name: str = "") -> str:
    """The test database, for a process of its own; `application_name` names its connections
    (pg_stat_activity), so that a test can find and terminate them."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"{url}?application_name={application_name}" if application_name else url


def start_celery(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """`celery -A config <args>`, its output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
