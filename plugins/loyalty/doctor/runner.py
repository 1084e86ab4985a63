"""Run the checks in order; each is a small function of the shared Deployment returning one result or a
few. A check that raises is reported as failed with its error, never as a stack trace, and the rest still run.

To add a check: write `def my_check(ctx: Deployment) -> CheckResult` in the area's module and list it below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loyalty.doctor import airflow, bi, providers, receiver, warehouse, workflows
from loyalty.doctor.context import Deployment, first_line
from loyalty.doctor.result import CheckResult, fail
from loyalty.orchestration import metadata

Check = Callable[[Deployment], CheckResult | Sequence[CheckResult]]

CHECKS: list[Check] = [
    warehouse.connect,
    warehouse.schemas,
    warehouse.tables,
    warehouse.migrations,
    workflows.specs,
    warehouse.marts,
    providers.provider_check("email"),
    providers.unsubscribe,
    providers.provider_check("sms"),
    providers.provider_check("push"),
    receiver.receiver,
    airflow.pools,
    airflow.warehouse_connection,
    bi.superset,
]


def run_checks(ctx: Deployment | None = None, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    """Every check's results, in order."""
    ctx = ctx or Deployment()
    metadata.read_connections_from_metadata()
    results: list[CheckResult] = []
    try:
        for check in checks:
            try:
                found = check(ctx)
            except Exception as error:
                where = f"{check.__module__.rsplit('.', 1)[-1]}.{check.__name__}"
                fix = "This is a bug in `loyalty doctor`: please report it with this line."
                message = f"the check itself failed: {type(error).__name__}: {first_line(error)}"
                results.append(fail(where, message, fix))
            else:
                results.extend([found] if isinstance(found, CheckResult) else found)
    finally:
        ctx.close()
    return results


def failed(results: Sequence[CheckResult]) -> bool:
    return any(result.status == "fail" for result in results)
