"""The webhook receiver: the one public door into the warehouse, open only to the providers.

Every request is verified with the provider's own helper where one exists (sendgrid's
EventWebhook, twilio's RequestValidator) or an HMAC we define (push receipts, unsubscribe
tokens); stale timestamps are refused where the provider sends one (5-minute replay window);
bodies are capped; events are stored once per provider event id, with the send id joined back,
and committed before we answer 2xx, so provider retries are safe. Opt-outs, unsubscribes, spam
reports and hard bounces update ``loyalty.contactability`` in the same transaction.
"""

from .app import create_app, create_app_from_env
from .config import ReceiverConfig, config_from_env
from .masking import mask_email, mask_phone
from .providers import (
    PUSH_SIGNATURE_HEADER,
    PUSH_TIMESTAMP_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    Rejected,
    push_signature,
)

__all__ = [
    "PUSH_SIGNATURE_HEADER",
    "PUSH_TIMESTAMP_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TWILIO_SIGNATURE_HEADER",
    "ReceiverConfig",
    "Rejected",
    "config_from_env",
    "create_app",
    "create_app_from_env",
    "mask_email",
    "mask_phone",
    "push_signature",
]
