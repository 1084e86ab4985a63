"""The workflow specs load: a spec that does not becomes a DAG that fails at once (and sends nothing)."""

from __future__ import annotations

from loyalty.doctor.context import Deployment
from loyalty.doctor.result import CheckResult, fail, ok, warn


def specs(ctx: Deployment) -> CheckResult:
    name = "workflows.specs"
    found = ctx.workflows
    if found.errors:
        return fail(
            name,
            f"{len(found.errors)} spec(s) do not load: {'; '.join(found.errors)}",
            "Run `loyalty specs validate` for each problem's file, line and field, and fix the spec.",
        )
    if not found.specs:
        return warn(name, f"no workflow spec in {ctx.workflows_dir}", "Add one YAML spec per workflow there.")
    channels = ", ".join(sorted(found.channels()))
    return ok(name, f"{len(found.specs)} workflow(s) load; they send on: {channels}")
