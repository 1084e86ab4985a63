"""Message channels, each a thin adapter over a provider's real Python client."""

from loyalty.channels.base import (
    FcmResponse,
    InDoubtError,
    Lookup,
    Message,
    NoResponse,
    Outcome,
    PermanentError,
    ProviderResponse,
    RateLimiter,
    Reward,
    RewardResponse,
    SendGridResponse,
    SendResult,
    TransientError,
    TwilioResponse,
)

__all__ = [
    "FcmResponse",
    "InDoubtError",
    "Lookup",
    "Message",
    "NoResponse",
    "Outcome",
    "PermanentError",
    "ProviderResponse",
    "RateLimiter",
    "Reward",
    "RewardResponse",
    "SendGridResponse",
    "SendResult",
    "TransientError",
    "TwilioResponse",
]
