"""Push through Firebase Cloud Messaging HTTP v1: `POST /v1/projects/<id>/messages:send`.

One request per device token (FCM v1 has no multi-token send), `concurrency` at a time over one
pooled `httpx.Client`. `message.data.send_id` carries the ledger's send id (the app's receipts
and the emulator's lookup echo it).

Authentication is an OAuth 2 access token. In production it comes from a service account through
google-auth (`ServiceAccountBearer`): minted before the first request and refreshed by the library
before it expires (an hour), so a long send never meets an expired token; a 401 all the same (a
token revoked early) refreshes once and resends. A fixed `access_token` is accepted for tests and
hand-made setups. A token that cannot be minted (the token endpoint down) sent nothing: the batch's
messages go back to pending, never `sending`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable
from typing import Any

import httpx
from google.auth import exceptions as google_errors
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from loyalty.channels.base import (
    FcmResponse,
    InDoubtError,
    Lookup,
    Message,
    Outcome,
    PermanentError,
    RateLimiter,
    TransientError,
    retry_after_seconds,
)
from loyalty.channels.delivery import PerMessageChannel
from loyalty.channels.lookup import EmulatorLookup, no_lookup

DEFAULT_HOST = "https://fcm.googleapis.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEAD_TOKEN = {"UNREGISTERED": "push_unregistered"}


def _error_code(response: httpx.Response) -> tuple[str, str]:
    """(FCM errorCode or gRPC status, message) from Google's error shape."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", response.text[:200]
    codes = [d["errorCode"] for d in error.get("details", []) if isinstance(d, dict) and d.get("errorCode")]
    return (codes[0] if codes else error.get("status", "")), error.get("message", "")


class ServiceAccountBearer(httpx.Auth):
    """`Authorization: Bearer` from google-auth credentials, shared by the channel's threads."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._lock = threading.Lock()

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ServiceAccountBearer:
        """From a service account's JSON key (as Firebase's console downloads it)."""
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[FCM_SCOPE]
        )
        return cls(credentials)

    def token(self, stale: str | None = None) -> str:
        """A valid token: the library mints or refreshes it when due, or when `stale` (a token FCM refused)
        is still the current one."""
        with self._lock:
            if not self.credentials.valid or (stale is not None and self.credentials.token == stale):
                self.credentials.refresh(GoogleRequest())  # type: ignore[no-untyped-call]
            return str(self.credentials.token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self.token()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=used)}"
            yield request


class FcmPush(PerMessageChannel):
    """Sends rendered push notifications; title = subject, body = text."""

    channel = "push"

    def __init__(
        self,
        project_id: str,
        access_token: str | None = None,
        host: str | None = None,
        concurrency: int = 16,
        rate_limit: float | None = None,
        attempts: int = 6,
        lookup_host: str | None = None,
        timeout: float = 10.0,
        auth: ServiceAccountBearer | None = None,
    ) -> None:
        if (access_token is None) == (auth is None):
            raise ValueError("FcmPush needs either a service account (auth) or a fixed access_token")
        self.path = f"/v1/projects/{project_id}/messages:send"
        self.client = httpx.Client(
            base_url=(host or DEFAULT_HOST).rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}"} if access_token else None,
            auth=auth,
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.concurrency = concurrency
        self.limiter = RateLimiter(rate_limit)
        self.attempts = attempts
        self.lookup = EmulatorLookup(lookup_host, "push") if lookup_host else no_lookup

    def body(self, message: Message) -> dict[str, Any]:
        """The FCM v1 send request for one message."""
        return {
            "message": {
                "token": message.recipient,
                "notification": {"title": message.subject, "body": message.body},
                "data": {"send_id": message.send_id, "step_id": message.step_id},
            }
        }

    def _send_one(self, message: Message) -> Outcome:
        try:
            response = self.client.post(self.path, json=self.body(message))
        except httpx.TimeoutException as error:
            raise InDoubtError(f"timeout: {error!r}") from None
        except httpx.TransportError as error:  # reset, or headers then a closed connection
            raise TransientError(0, f"connection: {error!r}", accepted_unknown=True) from None
        except google_errors.GoogleAuthError as error:  # no token: the message itself was never sent
            raise TransientError(0, f"OAuth token: {error}", accepted_unknown=False) from None
        if response.status_code == 200:
            name = response.json()["name"]
            return Outcome(message.send_id, "sent", provider_message_id=name, response=FcmResponse(name=name))
        code, detail = _error_code(response)
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(status, f"{code}: {detail}", retry_after_seconds(response.headers), status >= 500)
        raise PermanentError(status, f"{code}: {detail}", code=code)

    @staticmethod
    def _contactability(error: PermanentError) -> str | None:
        return DEAD_TOKEN.get(error.code or "")

    def close(self) -> None:
        """Close pooled connections (the lookup's too)."""
        self.client.close()
        getattr(self.lookup, "close", lambda: None)()

    def lookup_ids(self, send_ids: Iterable[str]) -> Lookup | None:
        return self.lookup(send_ids)
