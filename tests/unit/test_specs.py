"""Workflow specs: valid ones load, broken ones fail with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import SpecError, WorkflowSpec, load_spec, spec_paths


def _write(tmp_path: Path, name: str, data: dict | str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


@pytest.fixture
def win_back() -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text())


class TestShippedSpecs:
    @pytest.mark.parametrize("path", spec_paths(WORKFLOWS_DIR), ids=lambda p: p.stem)
    def test_every_shipped_spec_loads(self, path: Path) -> None:
        """Every spec in workflows/ validates and its id matches its file."""
        spec = load_spec(path)
        assert spec.id == path.stem
        assert abs(sum(v.weight for v in spec.experiment.variants) - 1) < 1e-9


class TestSchedules:
    @pytest.mark.parametrize(
        ("schedule", "intraday"),
        [
            ("warehouse", False),
            (None, False),
            ("@daily", False),
            ("@weekly", False),
            ("@hourly", True),
            ("30 9 * * *", False),
            ("0 9 * * 1", False),
            ("*/15 * * * *", True),
            ("0 */2 * * *", True),
            ("0 9,17 * * *", True),
            ("0,30 9 * * *", True),
        ],
    )
    def test_runs_intraday(self, win_back: dict, schedule: str | None, intraday: bool) -> None:
        """A schedule that runs more than once a day plans slices of a day: the audience gate knows it."""
        assert WorkflowSpec.model_validate({**win_back, "schedule": schedule}).runs_intraday is intraday

    def test_the_cart_workflow_runs_hourly(self) -> None:
        assert load_spec(WORKFLOWS_DIR / "cart_abandonment.yml").runs_intraday


class TestPreferredChannel:
    def test_preferred_leads_a_fallback_order(self, win_back: dict) -> None:
        win_back["steps"][0]["channel"] = ["preferred", "sms", "email"]
        (step,) = WorkflowSpec.model_validate(win_back).steps
        assert (step.prefers, step.channels) == (True, ("sms", "email"))

    @pytest.mark.parametrize(
        ("channel", "message"),
        [
            (["sms", "preferred"], "`preferred` comes first"),
            (["preferred"], "needs the channels it may be"),
            (["preferred", "sms", "sms"], "listed twice"),
            ("preferred", "Input should be"),
        ],
    )
    def test_preferred_alone_or_late_is_refused(self, win_back: dict, channel, message: str) -> None:
        win_back["steps"][0]["channel"] = channel
        with pytest.raises(ValueError, match=message):
            WorkflowSpec.model_validate(win_back)


class TestBrokenSpecs:
    def test_weights_must_sum_to_one(self, tmp_path: Path, win_back: dict) -> None:
        """A variant weight typo is named with the file and the experiment field."""
        win_back["experiment"]["variants"][0]["weight"] = 0.7
        path = _write(tmp_path, "win_back", win_back)
        with pytest.raises(SpecError) as error:
            load_spec(path)
        assert str(path) in str(error.value)
        assert "experiment" in str(error.value)
        assert "sum to 1" in str(error.value)

    def test_unknown_field_is_rejected(self, tmp_path: Path, win_back: dict) -> None:
        """A misspelt key is an error, not silently ignored."""
        win_back["audiense"] = win_back.pop("audience")
        with pytest.raises(SpecError) as error:
            load_spec(_write(tmp_path, "win_back", win_back))
        assert "audiense" in str(error.value)
        assert "audience" in str(error.value)

    def test_bad_yaml_names_the_line(self, tmp_path: Path) -> None:
        """YAML syntax errors say which line."""
        path = _write(tmp_path, "broken", "id: broken\nname: [unclosed\nowner: x\n")
        with pytest.raises(SpecError, match=r"broken\.yml: line \d+: is not valid YAML"):
            load_spec(path)

    def test_id_must_match_file_name(self, tmp_path: Path, win_back: dict) -> None:
        """The DAG id comes from the spec id, so it must agree with the file name."""
        with pytest.raises(SpecError, match="must match the file name"):
            load_spec(_write(tmp_path, "another_name", win_back))

    def test_identifier_injection_is_rejected(self, tmp_path: Path, win_back: dict) -> None:
        """The audience model becomes a SQL identifier: only plain lowercase names pass."""
        win_back["audience"]["model"] = 'eligible"; drop table raw.orders; --'
        with pytest.raises(SpecError, match=r"audience\.model"):
            load_spec(_write(tmp_path, "win_back", win_back))

    def test_variant_needs_english_template(self, tmp_path: Path, win_back: dict) -> None:
        """English is the fallback locale, so every variant must have it."""
        del win_back["experiment"]["variants"][0]["templates"]["email_1"]["en"]
        with pytest.raises(SpecError, match="'en' template"):
            load_spec(_write(tmp_path, "win_back", win_back))
