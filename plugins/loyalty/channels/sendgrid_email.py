"""Email through SendGrid's v3 Mail Send API with the official `sendgrid` client.

One request carries up to 1000 personalizations; each personalization's `custom_args` carries
the ledger's send_id, which SendGrid echoes in every Event Webhook event for that recipient.
"""

from __future__ import annotations

from collections.abc import Sequence

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from loyalty.channels.base import Message, PermanentError, SendResult, TransientError

MAX_PERSONALIZATIONS = 1000
DEFAULT_HOST = "https://api.sendgrid.com"


def _retry_after_wait(retry_state) -> float:
    """Honour the provider's Retry-After when it gave one, else back off exponentially."""
    error = retry_state.outcome.exception()
    if isinstance(error, TransientError) and error.retry_after is not None:
        return min(error.retry_after, 60.0)
    return wait_exponential(multiplier=0.5, max=30)(retry_state)


class SendGridEmail:
    """Sends batches of rendered emails; raises PermanentError / TransientError on refusal."""

    def __init__(self, api_key: str, from_email: str, host: str | None = None, attempts: int = 5) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host or DEFAULT_HOST)
        self.from_email = from_email
        self.attempts = attempts

    def payload(self, messages: Sequence[Message], categories: Sequence[str]) -> dict:
        """The Mail Send body: per-recipient subject and body via personalization substitutions."""
        if not 1 <= len(messages) <= MAX_PERSONALIZATIONS:
            raise ValueError(f"a SendGrid request takes 1..{MAX_PERSONALIZATIONS} recipients, got {len(messages)}")
        return {
            "from": {"email": self.from_email},
            "subject": "-subject-",
            "content": [{"type": "text/html", "value": "-body-"}],
            "categories": list(categories),
            "personalizations": [
                {
                    "to": [{"email": message.recipient}],
                    "subject": message.subject,
                    "substitutions": {"-body-": message.body, "-subject-": message.subject},
                    "custom_args": {"send_id": message.send_id, **message.custom_args},
                }
                for message in messages
            ],
        }

    def send(self, messages: Sequence[Message], categories: Sequence[str]) -> SendResult:
        """Send one batch, retrying transient refusals; the result holds X-Message-Id."""
        body = self.payload(messages, categories)
        sender = retry(
            retry=retry_if_exception_type(TransientError),
            wait=_retry_after_wait,
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        )(self._post)
        return sender(body)

    def _post(self, body: dict) -> SendResult:
        try:
            response = self.client.client.mail.send.post(request_body=body)
        except http_errors.HTTPError as error:
            detail = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body)
            status = int(error.status_code)
            if status == 429 or status >= 500:
                retry_after = (error.headers or {}).get("Retry-After")
                raise TransientError(status, detail, float(retry_after) if retry_after else None) from None
            raise PermanentError(status, detail) from None
        headers = dict(response.headers.items()) if response.headers else {}
        return SendResult(
            provider_message_id=headers.get("X-Message-Id"),
            status_code=response.status_code,
            response={"status_code": response.status_code, "x_message_id": headers.get("X-Message-Id")},
        )
