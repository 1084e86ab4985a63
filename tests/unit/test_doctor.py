"""`loyalty doctor`'s runner and report, without a deployment (tests/integration/test_doctor.py runs it on one)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from loyalty.doctor import CheckResult, Deployment, failed, print_report, run_checks, to_json
from loyalty.doctor.context import shown
from loyalty.doctor.result import fail, ok, skip, warn


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
        assert shown("postgresql://ana:s3cret@db:5432/shop") == "postgresql://ana:***@db:5432/shop"
        assert shown("postgresql://ana@db/shop") == "postgresql://ana@db/shop"
