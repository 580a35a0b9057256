"""GitHub's secret-scanning partner endpoint (docs/leaked-keys.md): POST
/api/v1/secret-scanning/leaks, a JSON array of {token, type, url, source}, signed with
ECDSA-P256-SHA256 by one of the public keys in SECRET_SCANNING_KEYS_FILE (GitHub's
/meta/public_keys/secret_scanning document), named by `Github-Public-Key-Identifier`, the
signature in `Github-Public-Key-Signature` (base64 DER). Answers each token's SHA-256 and label.
A request that is not signed so learns nothing and changes nothing."""

import base64
import binascii
import json
import logging
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from keys import leaks

logger = logging.getLogger(__name__)

MAX_TOKENS = 1000


def _public_key(identifier: str):
    path = settings.SECRET_SCANNING_KEYS_FILE
    if not identifier or not path:
        return None
    try:
        document = json.loads(Path(path).read_text())
        pems = {k["key_identifier"]: k["key"] for k in document.get("public_keys", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        logger.error("secret scanning: SECRET_SCANNING_KEYS_FILE cannot be read as GitHub's keys")
        return None
    if identifier not in pems:
        return None
    try:
        key = load_pem_public_key(pems[identifier].encode())
    except (ValueError, UnsupportedAlgorithm):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def signed(request: HttpRequest, body: bytes) -> bool:
    key = _public_key(request.headers.get("Github-Public-Key-Identifier", ""))
    if key is None:
        return False
    try:
        signature = base64.b64decode(request.headers.get("Github-Public-Key-Signature", ""))
        key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _refused(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "invalid_request", "message": message}}, status=status)


def _leaks(body: bytes) -> list[tuple[leaks.Leak, str]] | None:
    """Each reported token and its type, or None when the body is not GitHub's format."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(items, list) or len(items) > MAX_TOKENS:
        return None
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return None
        url, source, kind = (item.get(name) for name in ("url", "source", "type"))
        leak = leaks.Leak(
            item["token"][:200],
            url if isinstance(url, str) else "",
            source if isinstance(source, str) else "",
        )
        found.append((leak, kind[:100] if isinstance(kind, str) else ""))
    return found


@csrf_exempt
@require_POST
def leaks_view(request: HttpRequest) -> HttpResponse:
    try:
        body = request.body
    except RequestDataTooBig:
        return _refused(413, "The request body is too large.")
    if not signed(request, body):
        return _refused(401, "The request is not signed by a known secret-scanning key.")
    found = _leaks(body)
    if found is None:
        return _refused(
            422, f"Send a JSON array of at most {MAX_TOKENS} objects {{token, type, url, source}}."
        )
    labels = leaks.report([leak for leak, _ in found], via="partner")
    return JsonResponse(
        [
            {"token_hash": leaks.token_hash(leak.token), "token_type": kind, "label": label}
            for (leak, kind), label in zip(found, labels, strict=True)
        ],
        safe=False,
    )
