"""SMS through Twilio's Messages API with the official `twilio` client.

`RedirectingHttpClient` (a `TwilioHttpClient`) rewrites scheme and host of every request, so the
same client talks to api.twilio.com or to the provider emulator; its `requests` session keeps up
to `concurrency` connections alive. Each message carries a StatusCallback URL whose `send_id`
query parameter joins Twilio's status callbacks (and the emulator's lookup) back to the ledger.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from loyalty.channels.base import (
    InDoubtError,
    Lookup,
    Message,
    Outcome,
    PermanentError,
    RateLimiter,
    TransientError,
    TwilioResponse,
    retry_after_seconds,
)
from loyalty.channels.delivery import PerMessageChannel
from loyalty.channels.lookup import EmulatorLookup, no_lookup
from loyalty.channels.message_size import SMS_MAX_CHARS, sms_size

# Twilio error codes that say the number itself is dead for us (loyalty.contactability reasons).
DEAD_NUMBER = {21610: "sms_opted_out", 21211: "sms_invalid_number", 21614: "sms_invalid_number"}
_quiet = logging.getLogger("loyalty.channels.twilio_sms.http")
_quiet.setLevel(logging.WARNING)  # the client logs every request at INFO


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints: its class is Any
    """A TwilioHttpClient that sends every request to `base_url` (scheme + host), keeping paths."""

    def __init__(self, base_url: str | None, pool_size: int = 16, timeout: float = 10.0) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=_quiet)
        self.base = urlsplit(base_url) if base_url else None
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
        assert self.session is not None
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The environment's proxy and CA-bundle settings, read once for the one host we talk to:
        # requests otherwise re-reads all of os.environ on every request (~12% of a send's CPU).
        target = base_url or "https://api.twilio.com"
        self.proxy: dict[str, str] = {**requests.utils.get_environ_proxies(target), **self.proxy}
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False
        self._last = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Response:
        if self.base is not None:
            parts = urlsplit(url)
            url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, parts.fragment))
        response = super().request(method, url, params, data, headers, auth, timeout, **kwargs)
        self._last.response = response  # per thread: the error path reads Retry-After from it
        return response

    def last_headers(self) -> dict[str, str]:
        response = getattr(self._last, "response", None)
        return dict(response.headers or {}) if response is not None else {}


class TwilioSms(PerMessageChannel):
    """Sends rendered SMS one request each, `concurrency` at a time, paced to `rate_limit`/s."""

    channel = "sms"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback: str,
        host: str | None = None,
        concurrency: int = 16,
        rate_limit: float | None = None,
        attempts: int = 6,
        lookup_host: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.http = RedirectingHttpClient(host, pool_size=concurrency, timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.from_number = from_number
        self.status_callback = status_callback
        self.concurrency = concurrency
        self.limiter = RateLimiter(rate_limit)
        self.attempts = attempts
        self.lookup = EmulatorLookup(lookup_host, "sms") if lookup_host else no_lookup

    def callback_for(self, send_id: str) -> str:
        separator = "&" if "?" in self.status_callback else "?"
        return f"{self.status_callback}{separator}{urlencode({'send_id': send_id})}"

    def _send_one(self, message: Message) -> Outcome:
        size = sms_size(message.body)
        if size.characters > SMS_MAX_CHARS:  # Twilio would refuse it (21617): never ask
            reason = f"too long for SMS: {size.characters} characters, Twilio takes at most {SMS_MAX_CHARS}"
            return Outcome(message.send_id, "failed", reason=reason)
        try:
            created = self.client.messages.create(
                to=message.recipient,
                from_=self.from_number,
                body=message.body,
                status_callback=self.callback_for(message.send_id),
            )
        except TwilioRestException as error:
            status = int(error.status)
            if status == 429 or status >= 500:
                wait = retry_after_seconds(self.http.last_headers())
                raise TransientError(status, error.msg, wait, accepted_unknown=status >= 500) from None
            raise PermanentError(status, f"{error.code}: {error.msg}", code=str(error.code)) from None
        except requests.Timeout as error:
            raise InDoubtError(f"timeout: {error}") from None
        except requests.RequestException as error:  # reset, or dropped mid-answer: maybe accepted
            raise TransientError(0, f"connection: {error}", accepted_unknown=True) from None
        return Outcome(
            message.send_id,
            "sent",
            provider_message_id=created.sid,
            response=TwilioResponse(
                sid=created.sid, status=created.status, segments=size.segments, encoding=size.encoding
            ),
        )

    @staticmethod
    def _contactability(error: PermanentError) -> str | None:
        return DEAD_NUMBER.get(int(error.code)) if error.code and error.code.isdigit() else None

    def close(self) -> None:
        """Close pooled connections (the lookup's too)."""
        assert self.http.session is not None
        self.http.session.close()
        getattr(self.lookup, "close", lambda: None)()

    def lookup_ids(self, send_ids: Iterable[str]) -> Lookup | None:
        return self.lookup(send_ids)
