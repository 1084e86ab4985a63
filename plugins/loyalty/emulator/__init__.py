"""Local provider emulator: SendGrid's HTTP API and Signed Event Webhook, deterministic fates.

An independent witness: it imports nothing else from ``loyalty`` so a bug in the channel code
cannot agree with itself here.

Provider API (as documented by SendGrid):
  POST /v3/mail/send                              202 + X-Message-Id | 400/401/413 {"errors": [...]}
  GET  /v3/user/webhooks/event/settings/signed    {"enabled": true, "public_key": "<b64 DER SPKI>"}
Introspection (no real provider has these):
  GET  /_emulator/health | /_emulator/stats | /_emulator/requests | /_emulator/settings
  GET  /_emulator/messages?send_id=&channel=email&to=&offset=&limit=
  GET  /_emulator/events?send_id=                 the exact webhook events for those messages
  POST /_emulator/flush {"timeout": 30}           200 when drained, 504 (with stats) otherwise
  POST /_emulator/reset
  GET/POST /_emulator/clock {"now": iso|null, "frozen": bool, "advance_seconds": n}
  GET/POST/DELETE /_emulator/faults {"status", "count", "retry_after", "after_accept", "delay_s"}
  POST /_emulator/settings {"webhook_url", "delivery_rate", "open_rate", "click_rate"}
  POST /_emulator/webhooks/redeliver              requeue dead-lettered batches
"""

from .app import RunningEmulator, create_app, running, serve, start_in_thread
from .config import EmailRates, EmulatorConfig

__all__ = [
    "EmailRates",
    "EmulatorConfig",
    "RunningEmulator",
    "create_app",
    "running",
    "serve",
    "start_in_thread",
]
