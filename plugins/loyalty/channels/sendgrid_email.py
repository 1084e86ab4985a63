"""Email through SendGrid's v3 Mail Send API with the official `sendgrid` client.

One request carries up to 1000 personalizations; each personalization's `custom_args` carries
the ledger's send_id, which SendGrid echoes in every Event Webhook event for that recipient.
A marketing message gets its one-click unsubscribe here, where its send id is at hand: the
`List-Unsubscribe` (HTTPS and mailto) and `List-Unsubscribe-Post` headers of RFC 8058 on its
personalization, and its signed URL in place of `{{ unsubscribe_url }}` in the body.
A request is all or nothing: a 400 naming bad addresses (`personalizations.N.to.M.email`) fails
those recipients for good and resends the others; 429 waits as long as `Retry-After` /
`X-RateLimit-Reset` ask; 5xx and dropped connections look the batch up before any retry.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import time
import urllib.error
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from loyalty.channels.base import (
    InDoubtError,
    Lookup,
    Message,
    Outcome,
    PermanentError,
    RateLimiter,
    SendGridResponse,
    SendResult,
    TransientError,
    retry_after_seconds,
)
from loyalty.channels.delivery import MAX_WAIT_S, backoff
from loyalty.channels.lookup import EmulatorLookup, no_lookup
from loyalty.unsubscribe import UNSUBSCRIBE_URL_PLACEHOLDER, UnsubscribeLinks

MAX_PERSONALIZATIONS = 1000
DEFAULT_HOST = "https://api.sendgrid.com"
_BAD_ADDRESS_FIELD = re.compile(r"^personalizations\.(\d+)\.to\.\d+\.email$")
log = logging.getLogger(__name__)


class SendGridEmail:
    """Sends batches of rendered emails (one request per batch)."""

    channel = "email"

    def __init__(
        self,
        api_key: str,
        from_email: str,
        host: str | None = None,
        attempts: int = 6,
        rate_limit: float | None = None,
        lookup_host: str | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        unsubscribe: UnsubscribeLinks | None = None,
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host or DEFAULT_HOST)
        self.client.client.timeout = timeout
        self.from_email = from_email
        self.attempts = attempts
        self.limiter = RateLimiter(rate_limit)
        self.lookup = EmulatorLookup(lookup_host, "email") if lookup_host else no_lookup
        self.sleep = sleep
        self.unsubscribe = unsubscribe  # None: marketing emails cannot be sent (loyalty.ledger checks first)

    def payload(self, messages: Sequence[Message], categories: Sequence[str]) -> dict[str, Any]:
        """The Mail Send body: per-recipient subject and body via personalization substitutions."""
        if not 1 <= len(messages) <= MAX_PERSONALIZATIONS:
            raise ValueError(f"a SendGrid request takes 1..{MAX_PERSONALIZATIONS} recipients, got {len(messages)}")
        return {
            "from": {"email": self.from_email},
            "subject": "-subject-",
            "content": [{"type": "text/html", "value": "-body-"}],
            "categories": list(categories),
            "personalizations": [self._personalization(message) for message in messages],
        }

    def _personalization(self, message: Message) -> dict[str, Any]:
        body, headers = message.body, {}
        if message.marketing:
            if self.unsubscribe is None:
                raise ValueError(f"marketing email {message.send_id} needs unsubscribe links: none configured")
            body = body.replace(UNSUBSCRIBE_URL_PLACEHOLDER, self.unsubscribe.url(message.send_id))
            headers = self.unsubscribe.headers(message.send_id)
        personalization: dict[str, Any] = {
            "to": [{"email": message.recipient}],
            "subject": message.subject,
            "substitutions": {"-body-": body, "-subject-": message.subject},
            "custom_args": {"send_id": message.send_id, **message.custom_args},
        }
        if headers:
            personalization["headers"] = headers
        return personalization

    def send(self, messages: Sequence[Message], categories: Sequence[str]) -> SendResult:
        """Send one batch as one request, retrying refusals; raises on anything else."""
        outcomes = self.deliver(messages, categories)
        if any(o.status != "sent" for o in outcomes):
            raise RuntimeError(f"not every message was sent: {sorted({o.status for o in outcomes})}")
        first = outcomes[0]
        return SendResult(first.provider_message_id, 202, first.response or {})

    def deliver(self, messages: Sequence[Message], categories: Sequence[str]) -> list[Outcome]:
        """One Outcome per message of the batch."""
        remaining = list(messages)
        outcomes: dict[str, Outcome] = {}
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            if not remaining:
                break
            self.limiter.acquire(len(remaining))
            try:
                x_message_id = self._post(self.payload(remaining, categories))
            except InDoubtError as doubt:
                reason = f"in doubt: {doubt}"[:500]
                outcomes.update({m.send_id: Outcome(m.send_id, "sending", reason=reason) for m in remaining})
                remaining = []
                break
            except PermanentError as refused:
                bad = _bad_recipients(refused.detail, len(remaining))
                if not bad:  # the request itself is wrong: every recipient fails
                    reason = str(refused)[:500]
                    outcomes.update({m.send_id: Outcome(m.send_id, "failed", reason=reason) for m in remaining})
                    remaining = []
                    break
                for index in bad:
                    message = remaining[index]
                    outcomes[message.send_id] = Outcome(
                        message.send_id,
                        "failed",
                        reason="HTTP 400: Does not contain a valid address.",
                        contactability="email_invalid_address",
                    )
                remaining = [m for i, m in enumerate(remaining) if i not in bad]
                continue
            except TransientError as transient:
                error = transient
                if transient.accepted_unknown:
                    # A request is all or nothing: its first recipient tells for the whole batch.
                    seen = self.lookup([remaining[0].send_id])
                    if seen is not None and remaining[0].send_id in seen.found:
                        found_id = seen.found[remaining[0].send_id]
                        outcomes.update(
                            {
                                m.send_id: Outcome(m.send_id, "sent", found_id, f"accepted despite {transient}")
                                for m in remaining
                            }
                        )
                        remaining = []
                        break
                    if seen is None or not seen.authoritative:
                        reason = f"in doubt: {transient}"[:500]
                        outcomes.update({m.send_id: Outcome(m.send_id, "sending", reason=reason) for m in remaining})
                        remaining = []
                        break
                if attempt < self.attempts:
                    if transient.retry_after is not None:
                        self.limiter.pause(min(transient.retry_after, MAX_WAIT_S))
                    else:
                        self.sleep(backoff(attempt, base=0.5))
                continue
            response = SendGridResponse(status_code=202, x_message_id=x_message_id)
            outcomes.update({m.send_id: Outcome(m.send_id, "sent", x_message_id, None, response) for m in remaining})
            remaining = []
        for message in remaining:
            outcomes[message.send_id] = Outcome(message.send_id, "pending", reason=f"retries exhausted: {error}"[:500])
        return [outcomes[m.send_id] for m in messages]

    def close(self) -> None:
        """The sendgrid client opens a connection per request; only the lookup pools them."""
        getattr(self.lookup, "close", lambda: None)()

    def lookup_ids(self, send_ids: Iterable[str]) -> Lookup | None:
        return self.lookup(send_ids)

    def _post(self, body: dict[str, Any]) -> str | None:
        try:
            response = self.client.client.mail.send.post(request_body=body)
        except http_errors.HTTPError as error:
            answered: bytes | str = error.body  # bytes from the wire; str when built by hand
            detail = answered.decode(errors="replace") if isinstance(answered, bytes) else str(answered)
            status = int(error.status_code)
            if status == 429 or status >= 500:
                wait = retry_after_seconds(dict(error.headers.items()) if error.headers else None)
                raise TransientError(status, detail, wait, accepted_unknown=status >= 500) from None
            raise PermanentError(status, detail) from None
        except TimeoutError as error:
            raise InDoubtError(f"timeout: {error!r}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError | socket.timeout):
                raise InDoubtError(f"timeout: {error!r}") from None
            raise TransientError(0, f"connection: {error!r}", accepted_unknown=True) from None
        except (http.client.HTTPException, ConnectionError) as error:  # dropped mid-answer: maybe accepted
            raise TransientError(0, f"connection: {error!r}", accepted_unknown=True) from None
        headers = dict(response.headers.items()) if response.headers else {}
        return headers.get("X-Message-Id")


def _bad_recipients(detail: str, count: int) -> set[int]:
    """Indexes of personalizations SendGrid refused as invalid addresses; empty when the 400
    names anything else (then the whole request is wrong)."""
    try:
        errors = json.loads(detail).get("errors", [])
    except (ValueError, AttributeError):
        return set()
    indexes: set[int] = set()
    for item in errors:
        match = _BAD_ADDRESS_FIELD.match(str(item.get("field") or ""))
        if not match or int(match.group(1)) >= count:
            return set()
        indexes.add(int(match.group(1)))
    return indexes
