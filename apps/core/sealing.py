"""Secrets the portal must use again later (an MLflow token, a webhook's signing secret), sealed at rest.

A stolen database dump, backup or replica must not hand out credentials to other systems, so such values are
stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``) and opened only where they are used.

Keys come from the environment only: ``PORTAL_SEALING_KEYS`` (Fernet keys, comma separated, the first seals, all
open), or, when it is unset, a key derived from ``DJANGO_SECRET_KEY`` with a purpose of its own (and one from each
of ``DJANGO_SECRET_KEY_FALLBACKS``, so a key rotation keeps earlier values readable until
``manage.py reseal_secrets`` seals them again with the current key).

A sealed value is ``sealed:v1:<token>``; anything else is a value written before sealing existed (migrations
seal those) and is returned as it is.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

PREFIX = "sealed:v1:"
_KEY_PURPOSE = "mlops_portal.sealing-key"


class SealError(ValueError):
    """A sealed value none of the configured keys opens."""


def _derived_key(secret: str) -> bytes:
    digest = salted_hmac(_KEY_PURPOSE, "secrets at rest", secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest)


def _keys() -> list[bytes]:
    configured = [key.strip() for key in getattr(settings, "PORTAL_SEALING_KEYS", []) if key.strip()]
    if configured:
        return [key.encode() for key in configured]
    return [_derived_key(secret) for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise SealError("PORTAL_SEALING_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes; "
                        "make one with `python -c \"from cryptography.fernet import Fernet; "
                        "print(Fernet.generate_key().decode())\"`).") from exc


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal(plain: str) -> str:
    """The value to store for ``plain`` (an empty value stays empty: "nothing stored")."""
    if not plain:
        return ""
    return PREFIX + _fernet().encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    """The plain value of a stored one; raises ``SealError`` with what to do when no key opens it."""
    if not is_sealed(stored):
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise SealError("A stored secret cannot be opened with the current keys: it was sealed under another "
                        "DJANGO_SECRET_KEY or PORTAL_SEALING_KEYS. Put the old key in DJANGO_SECRET_KEY_FALLBACKS "
                        "(or PORTAL_SEALING_KEYS after the current one), or enter the secret again.") from exc


def reseal(stored: str) -> str:
    """``stored`` sealed again under the current first key (plain legacy values are sealed)."""
    return seal(unseal(stored)) if stored else stored
