"""The webhook receiver: the one public door into the warehouse, open only to the providers and
the shop's own backend.

Every request is verified with the provider's own helper where one exists (sendgrid's
EventWebhook, twilio's RequestValidator) or an HMAC we define (push receipts, the shop's app
events, unsubscribe tokens); stale timestamps are refused where the sender sends one (5-minute
replay window); bodies are capped; events are stored once per event id, with the send id joined
back, and committed before we answer 2xx, so retries are safe. Opt-outs, unsubscribes, spam
reports and hard bounces update ``loyalty.contactability`` in the same transaction. App events
(``POST /events/app``) go to raw.app_events; a sender signs them with ``app_event_headers``.
"""

from .app import create_app, create_app_from_env
from .app_events import MAX_APP_EVENTS, AppEvent
from .config import ReceiverConfig, config_from_env
from .masking import mask_email, mask_phone
from .providers import (
    APP_SIGNATURE_HEADER,
    APP_TIMESTAMP_HEADER,
    PUSH_SIGNATURE_HEADER,
    PUSH_TIMESTAMP_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    Rejected,
    app_event_headers,
    hmac_signature,
)

__all__ = [
    "APP_SIGNATURE_HEADER",
    "APP_TIMESTAMP_HEADER",
    "MAX_APP_EVENTS",
    "PUSH_SIGNATURE_HEADER",
    "PUSH_TIMESTAMP_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TWILIO_SIGNATURE_HEADER",
    "AppEvent",
    "ReceiverConfig",
    "Rejected",
    "app_event_headers",
    "config_from_env",
    "create_app",
    "create_app_from_env",
    "hmac_signature",
    "mask_email",
    "mask_phone",
]
