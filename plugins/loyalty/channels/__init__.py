"""Message channels, each a thin adapter over a provider's real Python client."""

from loyalty.channels.base import (
    InDoubtError,
    Lookup,
    Message,
    Outcome,
    PermanentError,
    RateLimiter,
    SendResult,
    TransientError,
)

__all__ = [
    "InDoubtError",
    "Lookup",
    "Message",
    "Outcome",
    "PermanentError",
    "RateLimiter",
    "SendResult",
    "TransientError",
]
