"""Message channels, each a thin adapter over a provider's real Python client."""

from loyalty.channels.base import Message, PermanentError, SendResult, TransientError

__all__ = ["Message", "PermanentError", "SendResult", "TransientError"]
