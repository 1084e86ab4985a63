"""BI check: Superset answers /health. Its URL is LOYALTY_BI_URL, else the Superset `loyalty dashboards`
started from this state folder; none configured is a warning (unless `--require-bi`)."""

from __future__ import annotations

import os

from loyalty.doctor.context import Deployment, get_health
from loyalty.doctor.result import CheckResult, fail, ok, warn

BI_URL_ENV = "LOYALTY_BI_URL"


def _configured() -> tuple[str, str] | None:
    """(url, where it came from), or None."""
    given = os.environ.get(BI_URL_ENV, "").strip()
    if given:
        return given.rstrip("/"), BI_URL_ENV
    from loyalty.bi import superset

    running = superset.running()
    return (running.url, f"the Superset `loyalty dashboards` started (pid {running.pid})") if running else None


def superset(ctx: Deployment) -> CheckResult:
    name = "bi.superset"
    found = _configured()
    if found is None:
        message = f"no BI configured ({BI_URL_ENV} is not set and no local Superset runs)"
        fix = f"Set {BI_URL_ENV} to your Superset's URL, or start the local one: `loyalty dashboards --detach`."
        return fail(name, message, fix) if ctx.require_bi else warn(name, message, fix)
    url, source = found
    fix = f"Start Superset (`loyalty dashboards --detach` locally) or correct {BI_URL_ENV} ({url})."
    response, why_not = get_health(url, source)
    if response is None:
        return fail(name, why_not, fix)
    return ok(name, f"{url} answers /health (from {source})")
