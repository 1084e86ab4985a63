"""`loyalty specs validate`: every mistake is named with file, line, field and a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec, load_spec
from loyalty.specs.checks import check_spec, dbt_model_columns, validate_paths

runner = CliRunner()


@pytest.fixture
def win_back() -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['id']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of_text(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


class TestCrossChecks:
    def test_shipped_specs_are_valid(self) -> None:
        """Everything in workflows/ passes, against the dbt project's documented columns."""
        result = runner.invoke(app, ["specs", "validate"])
        assert result.exit_code == 0, result.output

    def test_unknown_eligibility_model(self, tmp_path: Path, win_back: dict) -> None:
        """A typo in the audience model names the line and lists the models that exist."""
        win_back["audience"]["model"] = "eligible_wn_back"
        path = _write(tmp_path, win_back)
        (problem,) = validate_paths([path])
        assert f"{path}:{_line_of_text(path, 'eligible_wn_back')}" in problem
        assert "unknown eligibility model 'eligible_wn_back'" in problem
        assert "eligible_win_back" in problem  # the hint

    def test_unknown_template_variable(self, tmp_path: Path, win_back: dict) -> None:
        """A variable the audience model does not have is an error at validate time, not an empty email."""
        win_back["experiment"]["variants"][0]["templates"]["email_1"]["en"]["subject"] = "Hi {{ frist_name }}"
        path = _write(tmp_path, win_back)
        (problem,) = validate_paths([path])
        assert f"{path}:{_line_of_text(path, 'frist_name')}" in problem
        assert "experiment.variants.0.templates.email_1.en.subject" in problem
        assert "frist_name" in problem and "first_name" in problem

    def test_a_marketing_email_without_an_unsubscribe_link(self, tmp_path: Path, win_back: dict) -> None:
        """Every body of a marketing email must link {{ unsubscribe_url }}; the error names the body."""
        english = win_back["experiment"]["variants"][0]["templates"]["email_1"]["en"]
        english["body"] = "<p>Hi {{ first_name }}</p>"
        path = _write(tmp_path, win_back)
        problems = validate_paths([path])
        assert problems == [
            f"{path}:{_line_of_text(path, 'Hi {{ first_name }}</p>')}: "
            "experiment.variants.0.templates.email_1.en.body: a marketing email must link {{ unsubscribe_url }} "
            "(one-click unsubscribe) (hint: add <a href='{{ unsubscribe_url }}'>Unsubscribe</a>, or set "
            "`category: transactional` for messages the customer asked for)"
        ]

    def test_a_transactional_email_needs_no_link_and_has_none(self, tmp_path: Path, win_back: dict) -> None:
        """category: transactional: no link required, and `unsubscribe_url` is not there to use."""
        win_back["category"] = "transactional"
        variants = win_back["experiment"]["variants"]
        for variant in variants:
            for template in variant["templates"]["email_1"].values():
                template["body"] = template["body"].split("<p><a href=")[0]
        assert validate_paths([_write(tmp_path, win_back)]) == []
        variants[0]["templates"]["email_1"]["en"]["body"] += "<a href='{{ unsubscribe_url }}'>x</a>"
        (problem,) = validate_paths([_write(tmp_path, win_back)])
        assert "unknown template variable(s) unsubscribe_url" in problem

    def test_preferred_needs_the_preferred_channel_column(self, tmp_path: Path, win_back: dict) -> None:
        """A step that routes by preference, on an audience model without preferred_channel: named, with a hint."""
        win_back["steps"][0]["channel"] = ["preferred", "email", "sms"]
        path = _write(tmp_path, win_back)
        models = {name: set(columns) for name, columns in dbt_model_columns().items()}
        assert [p for p in check_spec(path, load_spec(path), models) if "preferred" in p.message] == []
        models["eligible_win_back"].discard("preferred_channel")
        (problem,) = [p for p in check_spec(path, load_spec(path), models) if "preferred" in p.message]
        assert str(problem).endswith(
            "steps: a step lists `preferred` but eligible_win_back has no column 'preferred_channel' "
            "(hint: select dim_customers.preferred_channel in the model, or drop `preferred`)"
        )

    def test_channel_without_its_address_column(self, tmp_path: Path, win_back: dict) -> None:
        """Push needs push_token and push_consent in the audience model: every eligibility model has both
        (contact_columns), and a model without the token is named."""
        win_back["steps"][0]["channel"] = ["push", "email"]
        path = _write(tmp_path, win_back)
        models = {name: set(columns) for name, columns in dbt_model_columns().items()}
        assert [p for p in check_spec(path, load_spec(path), models) if "needs column" in p.message] == []
        models["eligible_win_back"].discard("push_token")
        problems = [str(p) for p in check_spec(path, load_spec(path), models)]
        assert any("channel 'push' needs column(s) push_token in eligible_win_back" in p for p in problems), problems

    def test_weights_and_wait_before_message(self, tmp_path: Path, win_back: dict) -> None:
        """Schema errors come with the line and field; a leading wait explains the fix."""
        win_back["steps"].insert(0, {"type": "wait", "days": 2})
        path = _write(tmp_path, win_back)
        (problem,) = validate_paths([path])
        assert "a wait before any message" in problem and "hint" in problem
        assert f"line {_line_of_text(path, 'steps:')}" in problem

    def test_cli_exit_code_and_no_traceback(self, tmp_path: Path, win_back: dict) -> None:
        """The command fails with 1 and prints the problem, never a stack trace."""
        win_back["experiment"]["variants"][0]["weight"] = 0.9
        path = _write(tmp_path, win_back)
        result = runner.invoke(app, ["specs", "validate", str(path)])
        assert result.exit_code == 1
        assert "sum to 1" in result.output
        assert "Traceback" not in result.output


def test_published_json_schema_is_current() -> None:
    """workflows/_schema.json (what editors use) matches the pydantic model."""
    published = json.loads((WORKFLOWS_DIR / "_schema.json").read_text())
    assert published == WorkflowSpec.model_json_schema(by_alias=True)
