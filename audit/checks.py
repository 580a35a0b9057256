"""System checks of audit anchoring (audit.anchor): a key that cannot be read is an error
everywhere; no key at all is a warning of `check --deploy` (the embedded default runs
without one)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from audit.anchor_keys import AnchorKeyError, key_id, public_keys, signing_key


@register(Tags.security)
def anchor_keys_are_readable(app_configs, **kwargs) -> list:
    try:
        private = signing_key()
    except AnchorKeyError as error:
        return [Error(str(error), id="audit.E001")]
    try:
        listed = public_keys(
            getattr(settings, "AUDIT_ANCHOR_PUBLIC_KEY", ""), "AUDIT_ANCHOR_PUBLIC_KEY"
        )
    except AnchorKeyError as error:
        return [Error(str(error), id="audit.E002")]
    if listed and private is not None and key_id(private.public_key()) not in listed:
        return [
            Error(
                "AUDIT_ANCHOR_PUBLIC_KEY does not list the public key of AUDIT_ANCHOR_KEY: "
                "checkpoints signed now would not verify where only the public keys are.",
                hint="Add it: python manage.py audit_anchor_key --public",
                id="audit.E003",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def anchoring_is_on(app_configs, **kwargs) -> list:
    # A web process may hold only the public key, the private one staying with the worker that
    # signs: either key says anchoring is configured.
    if any(
        getattr(settings, name, "").strip()
        for name in ("AUDIT_ANCHOR_KEY", "AUDIT_ANCHOR_PUBLIC_KEY")
    ):
        return []
    return [
        Warning(
            "Audit anchoring is off: the audit chains' heads are not signed outside the "
            "database, so whoever can write the database can rewrite or cut a chain unseen.",
            hint="Set AUDIT_ANCHOR_KEY where the Celery worker runs (python manage.py "
            "audit_anchor_key prints a new one), and it or AUDIT_ANCHOR_PUBLIC_KEY here.",
            id="audit.W001",
        )
    ]
