"""`loyalty doctor`'s runner and report, without a deployment (tests/integration/test_doctor.py runs it on one)."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from loyalty import doctor
from loyalty.cli import app
from loyalty.doctor import CheckResult, Deployment, failed, print_report, run_checks, to_json
from loyalty.doctor.result import fail, ok, skip, warn
from loyalty.urls import redacted


@pytest.fixture(autouse=True)
def _airflow_context_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_checks declares the process an Airflow server process (as `airflow connections get` does): undone after."""
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")


def _broken(ctx: Deployment) -> CheckResult:
    raise KeyError("boom")


def _two(ctx: Deployment) -> list[CheckResult]:
    return [ok("area.first", "fine"), warn("area.second", "worth knowing", "do this")]


class TestRunner:
    def test_a_check_that_raises_is_a_failure_and_the_others_still_run(self) -> None:
        results = run_checks(Deployment(), [_broken, _two])
        assert [result.name for result in results] == ["test_doctor._broken", "area.first", "area.second"]
        assert results[0].status == "fail" and "KeyError" in results[0].message and "boom" in results[0].message
        assert "bug in `loyalty doctor`" in results[0].fix
        assert failed(results)

    def test_warnings_and_skips_do_not_fail(self) -> None:
        assert not failed([ok("a", "x"), warn("b", "y"), skip("c", "z")])
        assert failed([ok("a", "x"), fail("d", "broken", "fix it")])


class Client:
    """Stands in for a channel client: the runner's bookkeeping is under test, not the client."""

    closed = False

    def close(self) -> None:
        self.closed = True


class TestClients:
    def test_each_channels_client_is_built_once_per_run_and_closed_after(self, monkeypatch) -> None:
        built: list[Client] = []
        monkeypatch.setattr(
            "loyalty.orchestration.connections.channel_sender_if_configured",
            lambda channel: built.append(Client()) or built[-1],
        )

        def asks_twice(ctx: Deployment) -> CheckResult:
            assert ctx.sender("email") is ctx.sender("email")
            return ok("area.check", "fine")

        run_checks(Deployment(), [asks_twice, asks_twice])
        assert len(built) == 1 and built[0].closed

    def test_an_unusable_connection_fails_every_check_that_asks(self, monkeypatch) -> None:
        def unusable(channel: str) -> Client:
            raise ValueError("loyalty_twilio has no password")

        monkeypatch.setattr("loyalty.orchestration.connections.channel_sender_if_configured", unusable)
        ctx = Deployment()
        for _ in range(2):
            with pytest.raises(ValueError, match="no password"):
                ctx.sender("sms")


class TestReport:
    def test_one_line_per_check_and_the_fix_under_each_problem(self) -> None:
        out = io.StringIO()
        results = [ok("warehouse.connect", "answers"), fail("airflow.pools", "pool(s) missing: sms", "Run `x`")]
        print_report(results, Console(file=out, width=200, color_system=None))
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("✓ warehouse.connect") and lines[0].endswith("answers")
        assert lines[1].startswith("✗ airflow.pools") and lines[2].strip() == "fix: Run `x`"
        assert lines[-1] == "something is wrong: 1 ok, 1 fail"

    def test_json_says_whether_healthy_and_lists_every_check(self) -> None:
        report = json.loads(to_json([ok("a", "x"), warn("b", "y", "z")]))
        assert report["healthy"] is True
        assert report["checks"][1] == {"name": "b", "status": "warn", "message": "y", "fix": "z"}
        assert json.loads(to_json([fail("c", "x", "y")]))["healthy"] is False

    def test_passwords_never_reach_the_report(self) -> None:
        assert redacted("postgresql://ana:s3cret@db:5432/shop") == "postgresql://ana:***@db:5432/shop"
        assert redacted("postgresql://ana@db/shop") == "postgresql://ana@db/shop"
        assert redacted("postgresql://ana:s3cret@/shop?host=/tmp/pg") == "postgresql://ana:***@/shop?host=/tmp/pg"


def test_json_on_stdout_stays_parseable_whatever_the_checks_print_or_log(monkeypatch) -> None:
    """Airflow configures logging to stdout when it is imported, and alembic logs at INFO: the report alone
    reaches stdout (what the checks' libraries write goes to stderr)."""

    def noisy_checks(ctx: Deployment) -> list[CheckResult]:
        print("2026-12-07 a library's line")
        handler = logging.StreamHandler(sys.stdout)  # what a logging setup made during the checks holds
        logger = logging.getLogger("loyalty.tests.noisy")
        logger.addHandler(handler)
        logger.warning("2026-12-07 a log record")
        logger.removeHandler(handler)
        return [ok("area.check", "fine")]

    monkeypatch.setattr(doctor, "run_checks", noisy_checks)
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"] == [{"name": "area.check", "status": "ok", "message": "fine", "fix": ""}]
    assert "a library's line" in result.stderr and "a log record" in result.stderr
