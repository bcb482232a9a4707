"""The ID token: signature, nonce, audience and issuer checked before anyone is signed in."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from apps.core.sso import OidcBackend

ISSUER = "https://idp.invalid"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def backend(settings):
    settings.PORTAL_OIDC_ENABLED = True
    settings.PORTAL_OIDC_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"  # unused: the key below is given
    settings.OIDC_RP_IDP_SIGN_KEY = PUBLIC_PEM
    backend = OidcBackend()
    OIDCAuthenticationBackend.__init__(backend)
    backend.issuer = ISSUER
    return backend


def id_token(key=KEY, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": "portal", "sub": "s1", "nonce": "n1", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, key, algorithm="RS256")


def test_a_well_formed_id_token_is_accepted(backend):
    assert backend.verify_token(id_token(), nonce="n1")["sub"] == "s1"


def test_a_token_with_another_nonce_is_refused(backend):
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        backend.verify_token(id_token(nonce="replayed"), nonce="n1")


def test_a_token_issued_to_another_client_is_refused(backend):
    with pytest.raises(SuspiciousOperation, match="another client"):
        backend.verify_token(id_token(aud=["someone-else"]), nonce="n1")


def test_a_token_from_another_issuer_is_refused(backend):
    with pytest.raises(SuspiciousOperation, match="another issuer"):
        backend.verify_token(id_token(iss="https://evil.invalid"), nonce="n1")


def test_a_token_signed_with_another_key_is_refused(backend):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SuspiciousOperation, match="verification failed"):
        backend.verify_token(id_token(key=other), nonce="n1")


def test_an_expired_token_is_refused(backend):
    with pytest.raises(jwt.ExpiredSignatureError):
        backend.verify_token(id_token(exp=int(time.time()) - 60), nonce="n1")
