"""What the receiver needs to know: where the warehouse is and the providers' secrets.

Secrets come from the environment only (``config_from_env``) and never appear in a repr or a log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

ENV_SENDGRID_PUBLIC_KEY = "LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY"
# Names of environment variables, not secrets:
ENV_TWILIO_AUTH_TOKEN = "LOYALTY_TWILIO_AUTH_TOKEN"  # noqa: S105
ENV_PUSH_SECRET = "LOYALTY_PUSH_WEBHOOK_SECRET"  # noqa: S105
ENV_UNSUBSCRIBE_SECRET = "LOYALTY_UNSUBSCRIBE_SECRET"  # noqa: S105
ENV_APP_EVENTS_SECRET = "LOYALTY_APP_EVENTS_SECRET"  # noqa: S105
ENV_PUBLIC_URL = "LOYALTY_WEBHOOKS_PUBLIC_URL"
ENV_MAX_CONNECTIONS = "LOYALTY_WEBHOOKS_DB_CONNECTIONS"
SECRET_ENV_VARS = (
    ENV_SENDGRID_PUBLIC_KEY,
    ENV_TWILIO_AUTH_TOKEN,
    ENV_PUSH_SECRET,
    ENV_UNSUBSCRIBE_SECRET,
    ENV_APP_EVENTS_SECRET,
)


@dataclass(frozen=True)
class ReceiverConfig:
    """One receiver. A provider whose secret is empty has its endpoint answer 503 (not configured).

    ``public_url``: the receiver's base URL as providers call it (``https://hooks.shop.com``);
    Twilio signs the full URL it posted to, which a proxy in front of us changes. Without it the
    request's own URL is used.
    """

    warehouse_url: str = field(repr=False)
    sendgrid_public_key: str = field(default="", repr=False)  # base64 DER, as SendGrid shows it
    max_body_bytes: int = 5 * 1024 * 1024
    replay_window_seconds: int = 300
    twilio_auth_token: str = field(default="", repr=False)
    push_webhook_secret: str = field(default="", repr=False)
    unsubscribe_secret: str = field(default="", repr=False)
    app_events_secret: str = field(default="", repr=False)  # the shop's backend signs POST /events/app with it
    public_url: str | None = None
    max_connections: int = 4  # warehouse connections kept open per worker process

    @property
    def configured(self) -> list[str]:
        """The providers this receiver can verify."""
        names = ("sendgrid", "twilio", "push", "unsubscribe", "app_events")
        secrets = (
            self.sendgrid_public_key,
            self.twilio_auth_token,
            self.push_webhook_secret,
            self.unsubscribe_secret,
            self.app_events_secret,
        )
        return [name for name, secret in zip(names, secrets, strict=True) if secret]


def config_from_env(warehouse_url: str | None = None) -> ReceiverConfig:
    """Secrets from the environment; the warehouse from ``warehouse_url`` or the usual resolution."""
    if warehouse_url is None:
        from loyalty.warehouse import resolve_url

        warehouse_url = resolve_url()
    return ReceiverConfig(
        warehouse_url=warehouse_url,
        sendgrid_public_key=os.environ.get(ENV_SENDGRID_PUBLIC_KEY, "").strip(),
        twilio_auth_token=os.environ.get(ENV_TWILIO_AUTH_TOKEN, "").strip(),
        push_webhook_secret=os.environ.get(ENV_PUSH_SECRET, "").strip(),
        unsubscribe_secret=os.environ.get(ENV_UNSUBSCRIBE_SECRET, "").strip(),
        app_events_secret=os.environ.get(ENV_APP_EVENTS_SECRET, "").strip(),
        public_url=os.environ.get(ENV_PUBLIC_URL, "").strip() or None,
        max_connections=int(os.environ.get(ENV_MAX_CONNECTIONS, "4")),
    )
