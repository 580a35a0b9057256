import logging

from django.db import Error, connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: the process answers. It touches neither the database nor Redis, which
    also makes it the bare baseline that `make bench` compares authorize against."""
    return JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    """For load balancers and orchestrators: the process and its database answer. One
    primary-key SELECT (the first row of django_migrations) on the request's connection, and
    no Redis; a 503 when the database does not answer. `make bench` measures authorize against
    it too: the bare view plus the cheapest real query (bare_db_rps)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM django_migrations WHERE id = 1")
            cursor.fetchone()
    except Error as error:
        logger.warning("readiness: the database did not answer: %s", type(error).__name__)
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
