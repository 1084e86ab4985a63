"""The report: one line per check with its mark, and under each problem its fix; or JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from loyalty.doctor.result import CheckResult

MARKS = {"ok": "[green]✓[/green]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]", "skip": "[dim]-[/dim]"}


def print_report(results: Sequence[CheckResult], console: Console) -> None:
    width = max((len(result.name) for result in results), default=0)
    for result in results:
        line = f"{MARKS[result.status]} {escape(result.name.ljust(width))}  {escape(result.message)}"
        console.print(line, highlight=False, soft_wrap=True)
        if result.fix and result.status in {"fail", "warn"}:
            console.print(f"  {' ' * width}  [bold]fix:[/bold] {escape(result.fix)}", highlight=False, soft_wrap=True)
    counts = {status: sum(r.status == status for r in results) for status in MARKS}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    verdict = "[red]something is wrong[/red]" if counts["fail"] else "[green]healthy[/green]"
    console.print(f"{verdict}: {summary}", highlight=False)


def to_json(results: Sequence[CheckResult]) -> str:
    healthy = not any(result.status == "fail" for result in results)
    return json.dumps({"healthy": healthy, "checks": [result.to_dict() for result in results]}, indent=2)
