"""`loyalty doctor` on a real local stack: healthy, then each part broken in turn.

The stack is built once for the module: a scratch database on the session's Postgres (the application's tables
from `init_schema`; the customer mart and every workflow's audience model as empty tables, the shape dbt would
leave), the provider emulator and the webhook receiver as child processes (loyalty_dev.demo.start_stack, the
demo's own wiring), and an Airflow home migrated on SQLite with one pool per channel. Each case runs the real
`loyalty doctor` command in a subprocess with one thing broken and checks the exit code, the failing check's
message and fix, and that every other check still ran.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import sql

from loyalty import migrations, warehouse
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import load_spec, spec_paths
from loyalty_dev import local_airflow
from loyalty_dev.demo import CHANNEL_POOLS, Stack, start_stack

from ..conftest import mkdir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

LOYALTY = Path(sys.executable).with_name("loyalty")
HIDDEN = ("LOYALTY_BI_URL", "_AIRFLOW_PROCESS_CONTEXT")  # the developer's own settings stay out of the runs
SEVERITY = {"ok": 0, "skip": 1, "warn": 2, "fail": 3}


@dataclass
class Site:
    """The running local stack and the environment a deployment's processes get."""

    stack: Stack
    env: dict[str, str]
    no_raw_url: str  # a second scratch database whose `raw` schema was dropped
    behind_url: str  # a third, at an older migration than this release's head

    def doctor(self, changes: dict[str, str | None] | None = None, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `loyalty doctor` with `changes` to the environment (None removes a variable)."""
        env = dict(self.env)
        for name, value in (changes or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return subprocess.run(
            [str(LOYALTY), "doctor", *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def report(self, changes: dict[str, str | None] | None = None, *args: str) -> tuple[int, dict[str, dict]]:
        """Exit code and the JSON report's checks by name (of a name checked twice, e.g. two receiver URLs,
        the worst result)."""
        completed = self.doctor(changes, "--json", *args)
        assert "Traceback" not in completed.stderr + completed.stdout, completed.stderr
        checks: dict[str, dict] = {}
        for check in json.loads(completed.stdout)["checks"]:
            kept = checks.get(check["name"])
            if kept is None or SEVERITY[check["status"]] > SEVERITY[kept["status"]]:
                checks[check["name"]] = check
        return completed.returncode, checks


def _scratch_database(server_url: str, prefix: str, revision: str = "head") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    params = warehouse.connection_params(server_url)
    url = warehouse.url_from_connection_fields(params["host"], params["port"], params["user"], params["password"], name)
    migrations.upgrade(url, revision)
    return url


def _drop_database(server_url: str, url: str) -> None:
    name = warehouse.connection_params(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _empty_marts(url: str) -> None:
    """The customer mart and every workflow's audience model, as empty tables (doctor asks only that they exist)."""
    relations = {("marts", "dim_customers")}
    relations |= {(spec.audience.schema_, spec.audience.model) for spec in map(load_spec, spec_paths(WORKFLOWS_DIR))}
    with psycopg.connect(url) as conn:
        for schema, table in sorted(relations):
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL("create table {}.{} (customer_id bigint)").format(*map(sql.Identifier, (schema, table)))
            )


def _free_url() -> str:
    """A local URL nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(scope="module")
def site(warehouse_url: str, session_dir: Path) -> Iterator[Site]:
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(mkdir(session_dir / "state-doctor")))  # its own Airflow home and logs
    url = _scratch_database(warehouse_url, "doctor")
    _empty_marts(url)
    no_raw_url = _scratch_database(warehouse_url, "doctor_no_raw")
    with psycopg.connect(no_raw_url) as conn:
        conn.execute("drop schema raw cascade")
    behind_url = _scratch_database(warehouse_url, "doctor_behind", revision="0003")
    try:
        with ExitStack() as services:
            stack = start_stack(services, url, seed=5)
            local_airflow.prepare(stack.airflow_env, pools=CHANNEL_POOLS)
            env = {name: value for name, value in os.environ.items() if name not in HIDDEN}
            # One Fernet key for every process: a connection stored by one `airflow` command is read by the next.
            env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
            yield Site(stack, {**env, **stack.airflow_env}, no_raw_url, behind_url)
    finally:
        _drop_database(warehouse_url, url)
        _drop_database(warehouse_url, no_raw_url)
        _drop_database(warehouse_url, behind_url)
        mp.undo()


@pytest.fixture(scope="module")
def healthy(site: Site) -> dict[str, dict]:
    code, checks = site.report()
    assert code == 0, json.dumps(checks, indent=2)
    return checks


EVERY_CHECK = {
    "warehouse.connect",
    "warehouse.schemas",
    "warehouse.tables",
    "warehouse.migrations",
    "warehouse.marts",
    "workflows.specs",
    "providers.sendgrid",
    "providers.sendgrid.unsubscribe",
    "providers.twilio",
    "providers.fcm",
    "webhooks.receiver",
    "airflow.pools",
    "airflow.warehouse_connection",
    "bi.superset",
}


class TestHealthy:
    def test_every_check_of_a_healthy_local_stack_is_ok(self, healthy: dict[str, dict]) -> None:
        """Exit 0; every part ok; only BI warns, since none is configured (a warning, not a failure)."""
        assert set(healthy) == EVERY_CHECK
        assert {name for name, check in healthy.items() if check["status"] != "ok"} == {"bi.superset"}
        assert healthy["bi.superset"]["status"] == "warn"
        assert "mail.send allowed" in healthy["providers.sendgrid"]["message"]
        assert "active" in healthy["providers.twilio"]["message"]
        assert "validate_only" in healthy["providers.fcm"]["message"]
        assert "email: 4 slots" in healthy["airflow.pools"]["message"]

    def test_the_report_is_one_line_per_check_with_a_fix_under_each_problem(self, site: Site) -> None:
        """Plain text: a mark and the check's name per line; the fix on the line under a failure; no stack trace."""
        completed = site.doctor({"LOYALTY_BI_URL": _free_url()})
        assert completed.returncode == 1
        lines = completed.stdout.splitlines()
        [failure] = [i for i, line in enumerate(lines) if line.startswith("✗ bi.superset")]
        assert "fix:" in lines[failure + 1] and "loyalty dashboards --detach" in lines[failure + 1]
        assert any(line.startswith("✓ warehouse.connect") for line in lines)
        assert lines[-1].startswith("something is wrong: ")
        assert "Traceback" not in completed.stdout + completed.stderr


def _wrong_password(site: Site, variable: str, password: str) -> dict[str, str | None]:
    connection = json.loads(site.env[variable])
    return {variable: json.dumps({**connection, "password": password})}


def _refused_service_account(site: Site) -> dict[str, str | None]:
    """The emulator's service account with another private key: its token request is refused, as Google does."""
    account = httpx.get(f"{site.stack.emulator.url}/_emulator/fcm/service_account", timeout=10).json()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    connection = json.loads(site.env["AIRFLOW_CONN_LOYALTY_FCM"])
    extra = {**connection["extra"], "service_account": {**account, "private_key": pem.decode()}}
    connection = {key: value for key, value in connection.items() if key != "password"}
    return {"AIRFLOW_CONN_LOYALTY_FCM": json.dumps({**connection, "extra": extra})}


def _with_extra(site: Site, variable: str, **extra: str) -> dict[str, str | None]:
    connection = json.loads(site.env[variable])
    return {variable: json.dumps({**connection, "extra": {**connection.get("extra", {}), **extra}})}


def _without_unsubscribe_secret(site: Site) -> dict[str, str | None]:
    connection = json.loads(site.env["AIRFLOW_CONN_LOYALTY_SENDGRID"])
    extra = {key: value for key, value in connection["extra"].items() if key != "unsubscribe_secret"}
    return {
        "AIRFLOW_CONN_LOYALTY_SENDGRID": json.dumps({**connection, "extra": extra}),
        "LOYALTY_UNSUBSCRIBE_SECRET": None,
    }


# (case, environment changes, failing check, words of its message, words of its fix)
BROKEN: list[tuple[str, Callable[[Site], dict[str, str | None]], str, str, str]] = [
    (
        "bad warehouse URL",
        lambda site: {"LOYALTY_WAREHOUSE_URL": "postgresql://doctor@127.0.0.1:1/nowhere"},
        "warehouse.connect",
        "cannot connect to postgresql://doctor@127.0.0.1:1/nowhere",
        "set LOYALTY_WAREHOUSE_URL",
    ),
    (
        "raw schema missing",
        lambda site: {"LOYALTY_WAREHOUSE_URL": site.no_raw_url},
        "warehouse.schemas",
        "schema(s) missing: raw",
        "Run `loyalty warehouse init`",
    ),
    (
        "migrations behind",
        lambda site: {"LOYALTY_WAREHOUSE_URL": site.behind_url},
        "warehouse.migrations",
        "at revision 0003, this release's head is 0004 (1 pending: 0004)",
        "Run `loyalty warehouse upgrade`",
    ),
    (
        "wrong SendGrid key",
        lambda site: _wrong_password(site, "AIRFLOW_CONN_LOYALTY_SENDGRID", "SG.wrong-key"),
        "providers.sendgrid",
        "the SendGrid API key was rejected (401)",
        "loyalty_sendgrid connection's password",
    ),
    (
        "wrong Twilio token",
        lambda site: _wrong_password(site, "AIRFLOW_CONN_LOYALTY_TWILIO", "wrong-auth-token"),
        "providers.twilio",
        "Twilio rejected account AC",
        "auth token in the password",
    ),
    (
        "bad FCM token",
        lambda site: _wrong_password(site, "AIRFLOW_CONN_LOYALTY_FCM", "wrong-access-token"),
        "providers.fcm",
        "FCM rejected the access token (401 UNAUTHENTICATED",
        "loyalty_fcm connection's extra.service_account",
    ),
    (
        "FCM service account refused",
        _refused_service_account,
        "providers.fcm",
        "Google refused the service account's token request",
        "current service-account key",
    ),
    (
        "missing Twilio connection",
        lambda site: {"AIRFLOW_CONN_LOYALTY_TWILIO": None},
        "providers.twilio",
        "Airflow connection loyalty_twilio is not defined",
        "AIRFLOW_CONN_LOYALTY_TWILIO=",
    ),
    (
        "receiver down at the public URL",
        lambda site: {"LOYALTY_WEBHOOKS_PUBLIC_URL": _free_url()},
        "webhooks.receiver",
        "/health does not answer (from LOYALTY_WEBHOOKS_PUBLIC_URL",
        "Start the receiver (`loyalty webhooks",
    ),
    (
        "Twilio status callback to a wrong URL",
        lambda site: _with_extra(
            site, "AIRFLOW_CONN_LOYALTY_TWILIO", status_callback=_free_url() + "/webhooks/twilio/status"
        ),
        "webhooks.receiver",
        "/health does not answer (from loyalty_twilio's status_callback)",
        "or correct loyalty_twilio's status_callback",
    ),
    (
        "no unsubscribe secret",
        lambda site: _without_unsubscribe_secret(site),
        "providers.sendgrid.unsubscribe",
        "no unsubscribe secret",
        "Set LOYALTY_UNSUBSCRIBE_SECRET",
    ),
    (
        "BI unreachable",
        lambda site: {"LOYALTY_BI_URL": _free_url()},
        "bi.superset",
        "/health does not answer (from LOYALTY_BI_URL)",
        "loyalty dashboards --detach",
    ),
]


class TestBroken:
    @pytest.mark.parametrize(
        ("changes", "check", "message", "fix"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
    )
    def test_each_broken_part_fails_with_its_fix_and_the_other_checks_still_run(
        self,
        site: Site,
        healthy: dict[str, dict],
        changes: Callable[[Site], dict[str, str | None]],
        check: str,
        message: str,
        fix: str,
    ) -> None:
        code, checks = site.report(changes(site))
        assert code == 1
        assert checks[check]["status"] == "fail", checks[check]
        assert message in checks[check]["message"]
        assert fix in checks[check]["fix"]
        assert set(checks) == set(healthy)
        failing = {name for name, found in checks.items() if found["status"] == "fail"}
        assert failing == {check}, json.dumps(checks, indent=2)

    def test_a_missing_pool_fails_with_the_command_that_creates_it(self, site: Site, healthy: dict) -> None:
        """A send task whose pool is missing waits forever: doctor names the pool and the command."""
        local_airflow.run_airflow(["pools", "delete", "sms"], site.env, "doctor-pool-delete")
        try:
            code, checks = site.report()
        finally:
            local_airflow.run_airflow(["pools", "set", "sms", "4", "sms sends"], site.env, "doctor-pool-set")
        assert code == 1
        assert checks["airflow.pools"]["status"] == "fail"
        assert "pool(s) missing or without slots: sms" in checks["airflow.pools"]["message"]
        assert "`airflow pools set sms 4 'sms sends'`" in checks["airflow.pools"]["fix"]
        assert set(checks) == set(healthy)

    def test_a_connection_defined_in_airflows_metadata_db_counts(self, site: Site) -> None:
        """Connections defined in the UI (the metadata DB), not only AIRFLOW_CONN_* variables, are checked."""
        env = {name: value for name, value in site.env.items() if name != "AIRFLOW_CONN_LOYALTY_TWILIO"}
        conn_json = site.env["AIRFLOW_CONN_LOYALTY_TWILIO"]
        local_airflow.run_airflow(
            ["connections", "add", "loyalty_twilio", "--conn-json", conn_json], env, "doctor-conn"
        )
        try:
            code, checks = site.report({"AIRFLOW_CONN_LOYALTY_TWILIO": None})
        finally:
            local_airflow.run_airflow(["connections", "delete", "loyalty_twilio"], env, "doctor-conn-delete")
        assert code == 0, checks
        assert checks["providers.twilio"]["status"] == "ok"
        assert "active" in checks["providers.twilio"]["message"]

    def test_without_bi_a_warning_becomes_a_failure_when_required(self, site: Site) -> None:
        code, checks = site.report(None, "--require-bi")
        assert code == 1
        assert checks["bi.superset"]["status"] == "fail"
        assert "no BI configured" in checks["bi.superset"]["message"]
