"""The dbt project's SQL is SQLFluff-clean under dbt_project/.sqlfluff (the dbt templater compiles
each model against a real warehouse, so this is an integration test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty.paths import DBT_PROJECT_DIR
from loyalty.warehouse import dbt_env

pytestmark = pytest.mark.integration

SQLFLUFF = Path(sys.executable).with_name("sqlfluff")
# Every folder of models, and the snapshots. Macros are linted where models call them: SQLFluff lints no macro
# file on its own (the dbt templater skips one "because it is a macro"; the jinja templater renders a file of
# definitions to nothing).
LINTED = ["models", "snapshots"]


def test_sql_is_sqlfluff_clean(warehouse_url: str, tmp_path: Path) -> None:
    env = {**os.environ, **dbt_env(warehouse_url), "DBT_TARGET_PATH": str(tmp_path / "target")}
    result = subprocess.run(
        [str(SQLFLUFF), "lint", *LINTED, "--format", "json", "--processes", "2", "--disable-progress-bar"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout, result.stderr[-2000:]
    violations = [
        f"{report['filepath']}:{violation['start_line_no']} {violation['code']} {violation['description']}"
        for report in json.loads(result.stdout)
        for violation in report["violations"]
    ]
    assert violations == []
