"""What one check found: a status, a message, and for a problem a fix in plain words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. `fail` makes `loyalty doctor` exit 1; `warn` is worth knowing but not broken;
    `skip` says a check could not run because an earlier one failed (that one carries the fix)."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(name: str, message: str) -> CheckResult:
    return CheckResult(name, "ok", message)


def warn(name: str, message: str, fix: str = "") -> CheckResult:
    return CheckResult(name, "warn", message, fix)


def fail(name: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", message, fix)


def skip(name: str, message: str) -> CheckResult:
    return CheckResult(name, "skip", message)
