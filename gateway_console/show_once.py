"""A secret shown once: the page that shows it, and the nonce of the form that made it.

The plaintext lives only in the response that shows it: never in a URL, the session, a cache or
a log (docs/contract.md sections 1 and 4). `no-store` keeps it out of the browser's cache and
history. The form that makes a secret (a key's create and rotate, an admin token's create)
carries a nonce; the first submission claims it in a "shown" table (which holds no secret), so a
reload or a second submission makes nothing and is told the secret was already shown.

A "shown" model names what it records with `MADE`, the name of its foreign key.
"""

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers


def made_before(shown_model, nonce: str | None):
    """What the form with this nonce made when it was first processed; None: it was not."""
    if not nonce:
        return None
    shown = shown_model.objects.select_related(shown_model.MADE).filter(nonce=nonce).first()
    return getattr(shown, shown_model.MADE) if shown is not None else None


def claim(shown_model, nonce: str | None, made):
    """Records that the form with this nonce made `made`. When a concurrent submission of the
    same form claimed the nonce first, returns what that one made: the caller then refuses, and
    its transaction (with what it made) rolls back."""
    if not nonce:
        return None
    try:
        with transaction.atomic():
            shown_model.objects.create(nonce=nonce, **{shown_model.MADE: made})
    except IntegrityError:
        return made_before(shown_model, nonce)
    return None


def secret_page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """The page that shows a new secret, `context["plaintext"]`, kept out of every cache."""
    return no_store(render(request, template, context))


def no_store(response: HttpResponse) -> HttpResponse:
    """Keeps a response that holds a secret out of every cache (browser, proxy, HTTP/1.0)."""
    add_never_cache_headers(response)  # no-store, no-cache, must-revalidate, private, max-age=0
    response["Pragma"] = "no-cache"
    return response
