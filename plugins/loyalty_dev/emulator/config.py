"""Emulator configuration and its signing secrets.

Kept free of any other ``loyalty.*`` import: the emulator is an independent witness of the
channel code, so it must not share code with what it checks.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _check_rates(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    if getattr(obj, "latency_s", 0.0) < 0:
        raise ValueError("latency_s must be >= 0")


@dataclass
class EmailRates:
    """Outcome probabilities for email; each is conditional on the previous step.

    ``unsubscribe_rate`` and ``spam_rate`` are conditional on delivery; ``latency_s`` is added
    to every Mail Send answer.
    """

    delivery_rate: float = 0.97  # the rest bounce
    open_rate: float = 0.35  # given delivered
    click_rate: float = 0.25  # given opened
    unsubscribe_rate: float = 0.002  # given delivered
    spam_rate: float = 0.0005  # given delivered
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        _check_rates(self, ("delivery_rate", "open_rate", "click_rate", "unsubscribe_rate", "spam_rate"))


@dataclass
class SmsRates:
    """Outcome probabilities for SMS (Twilio): delivered, else undelivered or failed (with an
    error code); ``unsubscribe_rate`` is the share of delivered messages answered with STOP."""

    delivery_rate: float = 0.97
    unsubscribe_rate: float = 0.005
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        _check_rates(self, ("delivery_rate", "unsubscribe_rate"))


@dataclass
class PushRates:
    """Outcome probabilities for push (FCM): ``bounce_rate`` is the share of device tokens FCM
    reports UNREGISTERED (404 at send); delivery and open receipts come from the app side."""

    delivery_rate: float = 0.95
    open_rate: float = 0.08  # given delivered
    bounce_rate: float = 0.02
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        _check_rates(self, ("delivery_rate", "open_rate", "bounce_rate"))


RATE_CLASSES: dict[str, type] = {"email": EmailRates, "sms": SmsRates, "push": PushRates}


def updated_rates(current: Any, changes: dict[str, Any]) -> Any:
    """A copy of a rates object with ``changes`` applied (validated; unknown names refused)."""
    known = {f.name for f in fields(current)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown rate(s) {unknown}; known: {sorted(known)}")
    values = {name: getattr(current, name) for name in known}
    values.update({k: float(v) for k, v in changes.items()})
    return type(current)(**values)


@dataclass
class EmulatorConfig:
    """Everything that shapes one emulator instance.

    ``seed`` makes fates and generated ids reproducible; ``webhook_url`` is where signed
    SendGrid Event Webhook batches go (``None``: events are recorded but not posted).
    ``private_key`` (or ``private_key_path``, a PEM file) is the ECDSA P-256 key that signs the
    webhook; one is generated at start when neither is given.

    Twilio: Basic auth is ``twilio_account_sid:twilio_auth_token`` and status callbacks go to
    each message's ``StatusCallback``, signed with the auth token; replies (STOP...) go to
    ``sms_inbound_url``. FCM: ``fcm_access_token`` is the expected Bearer token (``None``
    accepts any, unless ``fcm_oauth``: then only the tokens the emulator minted for its service
    account, see google_oauth.py); the app-side delivery/open receipts go to ``push_receipt_url`` signed with
    ``push_webhook_secret``. Secrets not given are generated at start (see /_emulator/settings).
    """

    seed: int = 0
    webhook_url: str | None = None
    email: EmailRates = field(default_factory=EmailRates)
    sms: SmsRates = field(default_factory=SmsRates)
    push: PushRates = field(default_factory=PushRates)
    webhook_batch_size: int = 500
    api_key: str | None = None
    private_key: ec.EllipticCurvePrivateKey | None = None
    private_key_path: str | None = None
    twilio_account_sid: str = "AC" + "0" * 32
    twilio_auth_token: str | None = None
    sms_inbound_url: str | None = None
    fcm_project: str | None = None  # None: any project id in the path
    fcm_access_token: str | None = None
    # FCM as Google runs it: only Bearer tokens minted by the emulator's /token for its service account
    # (google_oauth.py), unexpired, are accepted (besides fcm_access_token when given).
    fcm_oauth: bool = False
    fcm_token_lifetime_s: int = 3600
    push_receipt_url: str | None = None
    push_webhook_secret: str | None = None
    push_receipt_batch_size: int = 500
    # Delivery of webhook batches: concurrent posts, retries with exponential backoff.
    webhook_concurrency: int = 4
    twilio_webhook_concurrency: int = 8  # Twilio posts one callback per request
    webhook_max_attempts: int = 10
    webhook_backoff_s: float = 0.2
    webhook_backoff_max_s: float = 10.0
    webhook_timeout_s: float = 10.0
    # How long a poster waits for a batch to fill before posting a partial one.
    webhook_linger_s: float = 0.02
    # Fraction of webhook posts delivered twice (providers deliver at least once).
    webhook_duplicate_rate: float = 0.0
    # Shuffle queued events before posting, so later events can arrive before earlier ones.
    webhook_out_of_order: bool = False

    def __post_init__(self) -> None:
        for channel, cls in RATE_CLASSES.items():  # plain dicts are accepted (config files, tests)
            if isinstance(getattr(self, channel), dict):
                setattr(self, channel, updated_rates(cls(), getattr(self, channel)))
        if self.webhook_batch_size < 1 or self.push_receipt_batch_size < 1:
            raise ValueError("webhook batch sizes must be >= 1")
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be >= 1")
        if not 0.0 <= self.webhook_duplicate_rate <= 1.0:
            raise ValueError("webhook_duplicate_rate must be within [0, 1]")
        if self.private_key is None:
            self.private_key = (
                load_private_key(self.private_key_path)
                if self.private_key_path
                else ec.generate_private_key(ec.SECP256R1())
            )
        if self.twilio_auth_token is None:
            self.twilio_auth_token = secrets.token_hex(16)
        if self.push_webhook_secret is None:
            self.push_webhook_secret = secrets.token_urlsafe(32)

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The private key, never None after construction."""
        assert self.private_key is not None
        return self.private_key

    @property
    def public_key_b64(self) -> str:
        """Base64 DER SubjectPublicKeyInfo: the form SendGrid shows as the verification key."""
        return public_key_b64(self.signing_key)

    @property
    def auth_token(self) -> str:
        assert self.twilio_auth_token is not None
        return self.twilio_auth_token

    @property
    def push_secret(self) -> str:
        assert self.push_webhook_secret is not None
        return self.push_webhook_secret


def load_private_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    """Load an unencrypted PEM ECDSA P-256 private key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TypeError(f"{path}: not an ECDSA P-256 private key")
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """Base64 of the DER SubjectPublicKeyInfo of ``key``'s public half."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def config_from_dict(data: dict[str, Any]) -> EmulatorConfig:
    """An EmulatorConfig from plain data (a JSON config file): rates nest under email/sms/push."""
    known = {f.name for f in fields(EmulatorConfig)} - {"private_key"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown emulator setting(s) {unknown}")
    values = dict(data)
    for channel, cls in RATE_CLASSES.items():
        if channel in values:
            values[channel] = updated_rates(cls(), values[channel])
    return EmulatorConfig(**values)
