"""Webhook receiver checks: every public URL the project hands out (LOYALTY_WEBHOOKS_PUBLIC_URL, the Twilio
status callback, the unsubscribe links) reaches a running `loyalty webhooks`, which reaches its warehouse and
verifies each channel in use."""

from __future__ import annotations

import os

import httpx

from loyalty.doctor.context import HTTP_TIMEOUT_S, Deployment, first_line, get_health
from loyalty.doctor.result import CheckResult, fail, ok, warn
from loyalty.orchestration.connections import DEFAULT_WEBHOOKS_URL

PUBLIC_URL_ENV = "LOYALTY_WEBHOOKS_PUBLIC_URL"
TWILIO_STATUS_PATH = "/webhooks/twilio/status"
# channel → (the receiver's name for its verifier, the variable that gives the receiver its secret)
VERIFIERS = {
    "email": ("sendgrid", "LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY"),
    "sms": ("twilio", "LOYALTY_TWILIO_AUTH_TOKEN"),
    "push": ("push", "LOYALTY_PUSH_WEBHOOK_SECRET"),
}


def _bases(ctx: Deployment) -> dict[str, list[str]]:
    """Receiver base URL → where the project hands it out."""
    bases: dict[str, list[str]] = {}
    given = os.environ.get(PUBLIC_URL_ENV, "").strip()
    bases.setdefault((given or DEFAULT_WEBHOOKS_URL).rstrip("/"), []).append(PUBLIC_URL_ENV if given else "the default")
    for channel, attribute, source in (
        ("email", "unsubscribe", "loyalty_sendgrid's unsubscribe links"),
        ("sms", "status_callback", "loyalty_twilio's status_callback"),
    ):
        url = _handed_out(ctx, channel, attribute)
        if url:
            base = url.split("?", 1)[0].removesuffix(TWILIO_STATUS_PATH).rstrip("/")
            bases.setdefault(base, []).append(source)
    return bases


def _handed_out(ctx: Deployment, channel: str, attribute: str) -> str | None:
    """The receiver URL the channel's client hands out (None: no such client, or an unusable connection,
    which its provider check reports)."""
    try:
        value = getattr(ctx.sender(channel), attribute, None)
    except Exception:
        return None
    url = getattr(value, "base_url", value)
    return url if isinstance(url, str) else None


def receiver(ctx: Deployment) -> list[CheckResult]:
    name = "webhooks.receiver"
    results: list[CheckResult] = []
    if not os.environ.get(PUBLIC_URL_ENV, "").strip():
        results.append(
            warn(
                "webhooks.public_url",
                f"{PUBLIC_URL_ENV} is not set: unsubscribe links and Twilio callbacks default to "
                f"{DEFAULT_WEBHOOKS_URL}, which no provider on the internet can call",
                f"Set {PUBLIC_URL_ENV} to the receiver's public HTTPS URL (where `loyalty webhooks` is reachable).",
            )
        )
    needed = {VERIFIERS[channel] for channel in ctx.workflows.channels() if channel in VERIFIERS}
    if any(spec.sends_marketing_email(spec.channels()) for spec in ctx.workflows.specs):
        needed.add(("unsubscribe", "LOYALTY_UNSUBSCRIBE_SECRET"))  # the links in every marketing email
    for base, sources in _bases(ctx).items():
        results.append(_probe(name, base, ", ".join(sources), needed))
    return results


def _probe(name: str, base: str, sources: str, needed: set[tuple[str, str]]) -> CheckResult:
    start = f"Start the receiver (`loyalty webhooks --port 8090`) where {base} reaches it, or correct {sources}"
    start += ": providers post their events and recipients unsubscribe there."
    health, why_not = get_health(base, sources)
    if health is None:
        return fail(name, why_not, start)
    try:
        verified = set(health.json().get("providers", []))
        ready = httpx.get(f"{base}/health/ready", timeout=HTTP_TIMEOUT_S)
    except (httpx.HTTPError, ValueError, AttributeError) as error:
        return fail(name, f"{base} answers, but not as `loyalty webhooks` does: {first_line(error)}", start)
    if ready.status_code != 200:
        return fail(
            name,
            f"the receiver at {base} runs but cannot reach its warehouse (/health/ready: {ready.status_code})",
            "Give the receiver the warehouse's LOYALTY_WAREHOUSE_URL and check that it answers (warehouse.connect).",
        )
    refused = sorted((verifier, variable) for verifier, variable in needed if verifier not in verified)
    if refused:
        return fail(
            name,
            f"the receiver at {base} refuses {', '.join(v for v, _ in refused)} webhooks (no secret to verify them)",
            f"Restart `loyalty webhooks` with {', '.join(variable for _, variable in refused)} set.",
        )
    return ok(name, f"{base} answers /health and /health/ready (from {sources})")
