"""Google's OAuth 2.0 token endpoint for service accounts, as FCM's clients (google-auth) use it.

``GET /_emulator/fcm/service_account`` gives the emulator's service account as Firebase's console
downloads it (``type``, ``project_id``, ``private_key_id``, ``private_key``, ``client_email``,
``token_uri``), its ``token_uri`` this emulator's ``/token``. ``POST /token`` with the form
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`` checks the JWT as Google
does: RS256, signed by that key (``kid`` = ``private_key_id``), ``iss`` = ``client_email``, ``aud`` =
Google's token URI (what google-auth signs) or this ``token_uri``, a ``scope`` naming
firebase.messaging, issued within the hour and not expired; it answers
``{"access_token", "expires_in", "token_type": "Bearer"}`` or Google's
``{"error": "invalid_grant", "error_description": ...}`` (400). Tokens live ``fcm_token_lifetime_s``
(Google's hour by default; less in a test that wants to see the client refresh), counted in wall
time like Google's, not on the emulator's simulated clock. The JWT is checked with ``cryptography``
here, not with google-auth, so the client's library is not its own judge.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import EmulatorConfig

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105  # the audience google-auth signs
FCM_SCOPES = {"https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"}
TOKEN_PREFIX = "ya29.emulator."  # noqa: S105  # marks the tokens this emulator mints
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 60


class ServiceAccount:
    """The emulator's service account: an RSA key generated at start, named after the FCM project."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.client_email = f"loyalty-push@{project}.iam.gserviceaccount.com"

    def key_file(self, token_uri: str) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        }


class TokenIssuer:
    """Access tokens minted by ``/token`` and what FCM asks of a Bearer token."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.account = ServiceAccount(config.fcm_project or "loyalty-emulator")
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def mint(self) -> tuple[str, int]:
        lifetime = self.config.fcm_token_lifetime_s
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[token] = time.time() + lifetime
        return token, lifetime

    def revoke(self) -> int:
        """Every token minted so far stops working before its expiry (as a key rotation does at Google)."""
        with self._lock:
            revoked, self._expiry = len(self._expiry), {}
        return revoked

    def valid(self, token: str) -> bool:
        """A token we minted and that has not expired."""
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and time.time() < expiry

    def check_assertion(self, assertion: str, token_uri: str) -> str | None:
        """What is wrong with the JWT (Google's wording), or None."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(signature_b64)
        except (ValueError, UnicodeDecodeError):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        if header.get("alg") != "RS256" or header.get("kid") != self.account.key_id:
            return "Invalid JWT Signature."
        try:
            self.account.key.public_key().verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or not isinstance(expires, int | float):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        if expires < now - CLOCK_SKEW_S or issued > now + CLOCK_SKEW_S or expires - issued > MAX_ASSERTION_LIFETIME_S:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe"
        if claims.get("iss") != self.account.client_email:
            return "Invalid grant: account not found"
        if claims.get("aud") not in {GOOGLE_TOKEN_URI, token_uri}:
            return f"Invalid JWT: audience must be {GOOGLE_TOKEN_URI}"
        if not FCM_SCOPES & set(str(claims.get("scope", "")).split()):
            return "Invalid OAuth scope or ID token audience provided."
        return None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_uri(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/token"


def routes(issuer: TokenIssuer) -> list[Route]:
    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != GRANT_TYPE:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, status_code=400
            )
        problem = issuer.check_assertion(str(form.get("assertion", "")), _token_uri(request))
        if problem is not None:
            return JSONResponse({"error": "invalid_grant", "error_description": problem}, status_code=400)
        access_token, lifetime = issuer.mint()
        return JSONResponse({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"})

    async def service_account(request: Request) -> Response:
        key_file: dict[str, Any] = issuer.account.key_file(_token_uri(request))
        return JSONResponse(key_file)

    async def revoke(_: Request) -> Response:
        return JSONResponse({"revoked": issuer.revoke()})

    return [
        Route("/token", token, methods=["POST"]),
        Route("/_emulator/fcm/service_account", service_account, methods=["GET"]),
        Route("/_emulator/fcm/revoke", revoke, methods=["POST"]),
    ]
