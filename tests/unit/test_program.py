"""The program config (program.yml): defaults, validation errors naming file and line, and which cap and
validity window each workflow and step gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyalty.assignment import global_holdout
from loyalty.cli import app
from loyalty.paths import WORKFLOWS_DIR
from loyalty.program import Program, load_program
from loyalty.specs import SpecError, WorkflowSpec, compile_journey, load_spec, spec_paths

runner = CliRunner()


def _spec(**changes: object) -> WorkflowSpec:
    data = yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text()) | changes
    return WorkflowSpec.model_validate(data)


def test_the_shipped_program_is_valid_and_not_a_workflow() -> None:
    program = load_program(WORKFLOWS_DIR / "program.yml")
    assert program.contact_policy.frequency_cap is not None
    assert 0 < program.global_holdout.pct < 0.1
    assert WORKFLOWS_DIR / "program.yml" not in spec_paths(WORKFLOWS_DIR)


def test_a_missing_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_program(tmp_path / "program.yml") == Program()
    (tmp_path / "empty.yml").write_text("# nothing set\n")
    assert load_program(tmp_path / "empty.yml") == Program()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contact_policy:\n  defer_days: -1\n", "line 2: contact_policy.defer_days: Input should be greater than"),
        ("global_holdout:\n  pct: 1.5\n", "line 2: global_holdout.pct: Input should be less than 1"),
        ("contact_policy:\n  frequncy_cap: 3\n", "line 2: contact_policy.frequncy_cap: Extra inputs are not"),
        ("contact_policy: [1\n", "is not valid YAML"),
        ("- 1\n", "must be a YAML mapping"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "program.yml"
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_program(path)
    assert str(path) in str(raised.value) and expected in str(raised.value)


def test_specs_validate_checks_the_program_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "program.yml"
    path.write_text("global_holdout:\n  pct: 2\n")
    result = runner.invoke(app, ["specs", "validate", str(path)])
    assert result.exit_code == 1
    assert "line 2: global_holdout.pct" in result.output and "Traceback" not in result.output
    path.write_text(b"\xff\xfe".decode("latin-1"), encoding="latin-1")
    result = runner.invoke(app, ["specs", "validate", str(path)])
    assert result.exit_code == 1 and "cannot be read" in result.output


def test_changes_to_the_file_are_read_again(tmp_path: Path) -> None:
    path = tmp_path / "program.yml"
    path.write_text("global_holdout: {pct: 0.1}\n")
    assert global_holdout(load_program(path)).pct == 0.1
    path.write_text("global_holdout: {pct: 0.25, salt: reshuffled}\n")
    assert (load_program(path).global_holdout.pct, load_program(path).global_holdout.salt) == (0.25, "reshuffled")


def test_the_cap_each_workflow_gets() -> None:
    program = Program.model_validate({"contact_policy": {"frequency_cap": {"max_messages": 2, "per_days": 5}}})
    own = {"max_messages": 9, "per_days": 1}
    assert program.frequency_cap_for(_spec()) == program.contact_policy.frequency_cap
    assert program.frequency_cap_for(_spec(category="transactional")) is None
    capped = _spec(policies={"frequency_cap": own})
    assert program.frequency_cap_for(capped) == capped.policies.frequency_cap
    uncapped = Program.model_validate({"contact_policy": {"frequency_cap": None}})
    assert uncapped.frequency_cap_for(_spec()) is None


def test_a_steps_validity_window_overrides_the_programs() -> None:
    program = Program.model_validate({"contact_policy": {"defer_days": 5}})
    spec = load_spec(WORKFLOWS_DIR / "win_back.yml")
    assert {program.valid_days_for(action) for action in compile_journey(spec)} == {5}
    steps = [{**step, "valid_days": 0} if step.get("type") == "message" else step for step in _steps()]
    assert {program.valid_days_for(action) for action in compile_journey(_spec(steps=steps))} == {0}


def _steps() -> list[dict]:
    return yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text())["steps"]
