"""Real threads for the concurrency tests (on PostgreSQL, with `transaction=True`)."""

import threading

from django.db import connection


def run_writers(count: int, work) -> list[BaseException]:
    """Runs work(n) in `count` threads that start together; each closes its connection."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait(timeout=30)
            work(n)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    return errors
