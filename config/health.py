from django.http import HttpRequest, JsonResponse


def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: the process answers. It touches neither the database nor Redis, which
    also makes it the bare baseline that `make bench` compares authorize against."""
    return JsonResponse({"status": "ok"})
