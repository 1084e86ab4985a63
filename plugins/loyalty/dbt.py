"""Run dbt in-process (dbtRunner) against the resolved warehouse.

In-process because dbt's import costs ~4 s: the demo builds once per simulated day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

from loyalty.paths import DBT_PROJECT_DIR, state_dir
from loyalty.warehouse import dbt_env


class DbtError(RuntimeError):
    """dbt finished with errors; the message names the failing nodes."""


def dbt_args(
    command: Sequence[str],
    run_date: dt.date | None = None,
    target: str | None = None,
    target_path: Path | None = None,
) -> list[str]:
    """dbt's arguments for this project; `target` picks a profiles.yml output (default: the warehouse's)."""
    args = [
        *command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path or state_dir() / "dbt" / "target"),
        "--log-level-file",
        "none",  # the caller's log (Airflow task log, terminal) gets dbt's output; no stray file handle
    ]
    if target is not None:
        args += ["--target", target]
    if run_date is not None:
        args += ["--vars", json.dumps({"run_date": run_date.isoformat()})]
    return args


def run_dbt(command: Sequence[str], url: str, run_date: dt.date | None = None, quiet: bool = True) -> None:
    """Invoke dbt (e.g. ["build"]) with the warehouse's profile; raise DbtError on failure."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(url))
    args = dbt_args(command, run_date)
    if quiet:
        args = ["--quiet", *args]
    result = dbtRunner().invoke(args)
    if result.success:
        return
    failures = []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) in {"error", "fail", "runtime error"}:
            failures.append(f"{node.node.unique_id}: {node.message}")
    detail = "; ".join(failures) or str(result.exception)
    raise DbtError(f"dbt {' '.join(command)} failed: {detail}")


def compile_manifest(url: str = "postgresql://postgres@localhost/postgres") -> Path:
    """`dbt parse` into the state folder and return manifest.json's path (no warehouse needed)."""
    run_dbt(["parse"], url)
    return state_dir() / "dbt" / "target" / "manifest.json"
