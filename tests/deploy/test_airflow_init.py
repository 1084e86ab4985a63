"""deploy/airflow-init.sh, the `airflow-init` service's command, run for real: Airflow's metadata (SQLite here,
Postgres in the stack), the channel pools, the simple auth manager's passwords and the warehouse's tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from loyalty.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "deploy" / "airflow-init.sh"
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


def run_init(tmp_path: Path, warehouse: str, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "auth").mkdir(exist_ok=True)
    env = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,analyst:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
        "AIRFLOW_PASSWORDS": json.dumps(passwords),
        "LOYALTY_POOLS": "email=3 sms=2",
        "LOYALTY_WAREHOUSE_URL": warehouse,
        "LOYALTY_STATE_DIR": str(tmp_path / "state"),
    }
    return subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=600)


class TestAirflowInit:
    def test_prepares_airflow_and_the_warehouse(self, tmp_path: Path, clean_warehouse: str) -> None:
        """Passwords for every configured user (owner-only file), the pools with their slots, the app tables."""
        with psycopg.connect(clean_warehouse, autocommit=True) as conn:
            conn.execute("drop schema if exists loyalty cascade")
        passwords = {"admin": "a-long-admin-password", "analyst": "a-long-analyst-password", "other": "unused"}
        result = run_init(tmp_path, clean_warehouse, passwords)
        assert result.returncode == 0, result.stderr[-2000:]
        written = tmp_path / "auth" / "passwords.json"
        assert json.loads(written.read_text()) == {"admin": passwords["admin"], "analyst": passwords["analyst"]}
        assert written.stat().st_mode & 0o777 == 0o600
        env = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path / "airflow"), "HOME": str(tmp_path)}
        pools = subprocess.run(
            [str(VENV_BIN / "airflow"), "pools", "list", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        slots = {pool["pool"]: int(pool["slots"]) for pool in json.loads(pools.stdout)}
        assert slots["email"] == 3 and slots["sms"] == 2
        with psycopg.connect(clean_warehouse) as conn:
            assert conn.execute("select to_regclass('loyalty.send_ledger')").fetchone() == ("loyalty.send_ledger",)

    def test_a_user_without_a_password_stops_it_first(self, tmp_path: Path, clean_warehouse: str) -> None:
        """A user of AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS missing from AIRFLOW_PASSWORDS is named; nothing ran."""
        result = run_init(tmp_path, clean_warehouse, {"admin": "a-long-admin-password"})
        assert result.returncode != 0
        assert "AIRFLOW_PASSWORDS has no password for analyst" in result.stderr
        assert not (tmp_path / "airflow" / "airflow.db").exists()
        assert not (tmp_path / "auth" / "passwords.json").exists()
