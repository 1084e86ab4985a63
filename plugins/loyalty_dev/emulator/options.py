"""Emulator settings from a JSON file, environment secrets and command-line options.

Shared by ``python -m loyalty_dev.emulator`` and ``loyalty emulator``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .config import EmulatorConfig, config_from_dict

# flag name -> (EmulatorConfig field or "channel.rate", type)
FLAGS: dict[str, tuple[str, Any]] = {
    "seed": ("seed", int),
    "webhook_url": ("webhook_url", str),
    "api_key": ("api_key", str),
    "private_key": ("private_key_path", str),
    "delivery_rate": ("email.delivery_rate", float),
    "open_rate": ("email.open_rate", float),
    "click_rate": ("email.click_rate", float),
    "unsubscribe_rate": ("email.unsubscribe_rate", float),
    "spam_rate": ("email.spam_rate", float),
    "sms_delivery_rate": ("sms.delivery_rate", float),
    "sms_unsubscribe_rate": ("sms.unsubscribe_rate", float),
    "push_delivery_rate": ("push.delivery_rate", float),
    "push_open_rate": ("push.open_rate", float),
    "push_bounce_rate": ("push.bounce_rate", float),
    "webhook_batch_size": ("webhook_batch_size", int),
    "twilio_account_sid": ("twilio_account_sid", str),
    "twilio_auth_token": ("twilio_auth_token", str),
    "sms_inbound_url": ("sms_inbound_url", str),
    "fcm_access_token": ("fcm_access_token", str),
    "fcm_token_lifetime": ("fcm_token_lifetime_s", int),
    "push_receipt_url": ("push_receipt_url", str),
    "push_secret": ("push_webhook_secret", str),
    "webhook_duplicate_rate": ("webhook_duplicate_rate", float),
}
ENV_SECRETS = {
    "twilio_auth_token": "LOYALTY_EMULATOR_TWILIO_AUTH_TOKEN",
    "push_webhook_secret": "LOYALTY_EMULATOR_PUSH_SECRET",
}


def build_config(options: dict[str, Any], config_file: str | None = None) -> EmulatorConfig:
    """Config file, then environment secrets, then the options given (None = not given)."""
    data: dict[str, Any] = json.loads(Path(config_file).read_text()) if config_file else {}
    for field_name, env in ENV_SECRETS.items():
        if os.environ.get(env):
            data.setdefault(field_name, os.environ[env])
    for flag, value in options.items():
        if value is None or flag not in FLAGS:
            continue
        target = FLAGS[flag][0]
        if "." in target:
            channel, rate = target.split(".")
            data.setdefault(channel, {})[rate] = value
        else:
            data[target] = value
    for switch in ("webhook_out_of_order", "fcm_oauth"):
        if options.get(switch):
            data[switch] = True
    return config_from_dict(data)
