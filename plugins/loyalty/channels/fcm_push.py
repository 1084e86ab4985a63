"""Push through Firebase Cloud Messaging HTTP v1: `POST /v1/projects/<id>/messages:send`.

One request per device token (FCM v1 has no multi-token send), `concurrency` at a time over one
pooled `httpx.Client`. `message.data.send_id` carries the ledger's send id (the app's receipts
and the emulator's lookup echo it). The Bearer token is an OAuth 2 access token; minting it from
a service account (google-auth) is the deployment's job, outside this client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

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
DEAD_TOKEN = {"UNREGISTERED": "push_unregistered"}


def _error_code(response: httpx.Response) -> tuple[str, str]:
    """(FCM errorCode or gRPC status, message) from Google's error shape."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", response.text[:200]
    codes = [d["errorCode"] for d in error.get("details", []) if isinstance(d, dict) and d.get("errorCode")]
    return (codes[0] if codes else error.get("status", "")), error.get("message", "")


class FcmPush(PerMessageChannel):
    """Sends rendered push notifications; title = subject, body = text."""

    channel = "push"

    def __init__(
        self,
        project_id: str,
        access_token: str,
        host: str | None = None,
        concurrency: int = 16,
        rate_limit: float | None = None,
        attempts: int = 6,
        lookup_host: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.path = f"/v1/projects/{project_id}/messages:send"
        self.client = httpx.Client(
            base_url=(host or DEFAULT_HOST).rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}"},
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
