"""What every channel takes and returns, so the ledger treats providers alike."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """One rendered message for one recipient; `send_id` travels to the provider and back."""

    send_id: str
    recipient: str
    subject: str
    body: str
    step_id: str = ""
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the batch: its message id and what it answered."""

    provider_message_id: str | None
    status_code: int
    response: dict


class PermanentError(Exception):
    """The provider refused the request for good (bad payload, bad address): do not retry."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class TransientError(Exception):
    """The request failed in a way a later try may not (429, 5xx); nothing was accepted."""

    def __init__(self, status_code: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.retry_after = retry_after
