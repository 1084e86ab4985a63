"""Personal data never reaches a log line whole: emails and phone numbers are masked."""

from __future__ import annotations


def mask_email(value: str | None) -> str:
    """``ana.souza@example.com`` → ``a***@example.com``."""
    if not value:
        return "<none>"
    local, at, domain = value.partition("@")
    if not at:
        return mask_phone(value)
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str | None) -> str:
    """``+5511999990000`` → ``+55*******0000`` (country code and last four digits kept)."""
    if not value:
        return "<none>"
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_address(channel: str, value: str | None) -> str:
    if channel == "email":
        return mask_email(value)
    if channel == "sms":
        return mask_phone(value)
    return f"{value[:6]}…" if value else "<none>"  # push token: an opaque id, shortened
