"""Local provider emulator: SendGrid, Twilio and FCM HTTP APIs, signed webhooks, deterministic fates.

An independent witness: it imports nothing else from ``loyalty`` so a bug in the channel code
cannot agree with itself here.

Provider APIs (as documented by the providers):
  POST /v3/mail/send                              202 + X-Message-Id | 400/401/413 {"errors": [...]}
  GET  /v3/user/webhooks/event/settings/signed    {"enabled": true, "public_key": "<b64 DER SPKI>"}
  GET/PATCH /v3/user/webhooks/event/settings      {"enabled", "url"}
  POST /2010-04-01/Accounts/{sid}/Messages.json   201 Message {"sid": "SM…", "status": "queued"} |
                                                  4xx {"code", "message", "more_info", "status"}
  POST /v1/projects/{project}/messages:send       200 {"name": "projects/…/messages/…"} |
                                                  4xx {"error": {"code", "message", "status", "details"}}
  POST /token (Google OAuth 2, JWT bearer grant)  {"access_token", "expires_in", "token_type"} |
                                                  400 {"error": "invalid_grant", "error_description"}
Webhooks: SendGrid Event Webhook batches (ECDSA), Twilio status callbacks and inbound SMS
(X-Twilio-Signature), push receipts from the app side (HMAC-SHA256; see ``fcm``).
Introspection (no real provider has these):
  GET  /_emulator/health | /_emulator/stats | /_emulator/requests | /_emulator/settings
  GET  /_emulator/messages?send_id=&channel=email|sms|push&to=&id=&offset=&limit=
  GET  /_emulator/events?send_id=&channel=       the exact webhook events for those messages
  POST /_emulator/flush {"timeout": 30}           200 when drained, 504 (with stats) otherwise
  POST /_emulator/reset
  GET/POST /_emulator/clock {"now": iso|null, "frozen": bool, "advance_seconds": n}
  GET/POST/DELETE /_emulator/faults {"channel", "kind": status|timeout|drop, "status", "count",
                                     "retry_after", "after_accept", "delay_s"}
  POST /_emulator/settings {"webhook_url", "sms_inbound_url", "push_receipt_url",
                            "email"|"sms"|"push": {rates, latency_s},
                            "webhook_duplicate_rate", "webhook_out_of_order"}
  POST /_emulator/sms/inbound {"from", "to", "body"}   a recipient texts us (STOP, START, ...)
  GET  /_emulator/sms/opt-outs
  GET/POST /_emulator/push/tokens {"unregister": [token, ...]}
  GET  /_emulator/fcm/service_account             the service account's JSON key (token_uri = /token)
  POST /_emulator/fcm/revoke                      every minted token stops working (FCM answers 401)
  POST /_emulator/webhooks/redeliver              requeue dead-lettered batches
"""

from .app import RunningEmulator, create_app, running, serve, start_in_thread
from .config import EmailRates, EmulatorConfig, PushRates, SmsRates, config_from_dict

__all__ = [
    "EmailRates",
    "EmulatorConfig",
    "PushRates",
    "RunningEmulator",
    "SmsRates",
    "config_from_dict",
    "create_app",
    "running",
    "serve",
    "start_in_thread",
]
