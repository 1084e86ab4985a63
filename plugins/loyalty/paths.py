"""Where the project keeps its files: one place so no module guesses a path."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent.parent
SQL_DIR = PACKAGE_DIR / "sql"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_MACROS_DIR = DBT_PROJECT_DIR / "macros"  # plain-Jinja rules the application's SQL imports too
WORKFLOWS_DIR = Path(os.environ.get("LOYALTY_WORKFLOWS_DIR", PROJECT_ROOT / "workflows"))
DAGS_DIR = PROJECT_ROOT / "dags"


def state_dir() -> Path:
    """The git-ignored folder for runtime state (embedded Postgres, Airflow home, logs).

    `LOYALTY_STATE_DIR` moves it, e.g. so tests get a private one.
    """
    path = Path(os.environ.get("LOYALTY_STATE_DIR", PROJECT_ROOT / ".state")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
