"""Emulator configuration and its signing key.

Kept free of any other ``loyalty.*`` import: the emulator is an independent witness of the
channel code, so it must not share code with what it checks.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass
class EmailRates:
    """Outcome probabilities for email; each is conditional on the previous step."""

    delivery_rate: float = 0.97  # the rest bounce
    open_rate: float = 0.35  # given delivered
    click_rate: float = 0.25  # given opened

    def __post_init__(self) -> None:
        for name in ("delivery_rate", "open_rate", "click_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")


@dataclass
class EmulatorConfig:
    """Everything that shapes one emulator instance.

    ``seed`` makes fates and generated ids reproducible; ``webhook_url`` is where signed
    SendGrid Event Webhook batches go (``None``: events are recorded but not posted).
    ``private_key`` (or ``private_key_path``, a PEM file) is the ECDSA P-256 key that signs the
    webhook; one is generated at start when neither is given.
    """

    seed: int = 0
    webhook_url: str | None = None
    email: EmailRates = field(default_factory=EmailRates)
    webhook_batch_size: int = 500
    api_key: str | None = None
    private_key: ec.EllipticCurvePrivateKey | None = None
    private_key_path: str | None = None
    # Delivery of webhook batches: concurrent posts, retries with exponential backoff.
    webhook_concurrency: int = 4
    webhook_max_attempts: int = 10
    webhook_backoff_s: float = 0.2
    webhook_backoff_max_s: float = 10.0
    webhook_timeout_s: float = 10.0
    # How long a poster waits for a batch to fill before posting a partial one.
    webhook_linger_s: float = 0.02
    # Fraction of webhook batches posted twice (SendGrid delivers at least once).
    webhook_duplicate_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.webhook_batch_size < 1:
            raise ValueError("webhook_batch_size must be >= 1")
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be >= 1")
        if self.private_key is None:
            self.private_key = (
                load_private_key(self.private_key_path)
                if self.private_key_path
                else ec.generate_private_key(ec.SECP256R1())
            )

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The private key, never None after construction."""
        assert self.private_key is not None
        return self.private_key

    @property
    def public_key_b64(self) -> str:
        """Base64 DER SubjectPublicKeyInfo: the form SendGrid shows as the verification key."""
        return public_key_b64(self.signing_key)


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
