"""Cross-checks of specs against the dbt project: the audience model exists, templates only use
its columns, every channel has its consent and address columns.

Read from the models' YAML (the documented contract), so validation needs no warehouse and no
dbt parse, and runs in CI, in an editor hook, or before a DAG file is ever parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from loyalty.paths import DBT_PROJECT_DIR
from loyalty.specs import CHANNEL_CONSENT, SpecError, WorkflowSpec, line_of, load_spec
from loyalty.specs.templates import template_variables

TEMPLATE_BUILTINS = {"loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace"}


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}: {self.field}: {self.message}{hint}"


@lru_cache(maxsize=4)
def dbt_model_columns(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, set[str]]:
    """Documented columns of every dbt model, by model name."""
    models: dict[str, set[str]] = {}
    for path in sorted((project_dir / "models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models") or []:
            models[model["name"]] = {column["name"] for column in model.get("columns") or []}
    return models


def check_spec(path: Path, spec: WorkflowSpec, models: dict[str, set[str]]) -> list[Problem]:
    """Problems a spec has against the dbt project (empty when it is fine)."""
    text = path.read_text()
    model = spec.audience.model
    if model not in models:
        eligible = sorted(name for name in models if name.startswith("eligible_"))
        return [
            Problem(
                path,
                line_of(text, ("audience", "model")),
                "audience.model",
                f"unknown eligibility model {model!r}",
                f"known: {', '.join(eligible)}",
            )
        ]
    columns = models[model]
    problems: list[Problem] = []
    if spec.audience.entered_on and spec.audience.entered_on not in columns:
        problems.append(
            Problem(
                path,
                line_of(text, ("audience", "entered_on")),
                "audience.entered_on",
                f"{model} has no column {spec.audience.entered_on!r}",
            )
        )
    for channel in spec.channels():
        if channel == "reward":
            continue
        missing = [column for column in CHANNEL_CONSENT[channel] if column not in columns]
        if missing:
            problems.append(
                Problem(
                    path,
                    line_of(text, ("steps",)),
                    "steps",
                    f"channel {channel!r} needs column(s) {', '.join(missing)} in {model}",
                    "add the address and consent columns to the model, or drop the channel",
                )
            )
    for v_index, variant in enumerate(spec.experiment.variants):
        for step_id, by_locale in variant.templates.items():
            for locale, template in by_locale.items():
                for field_name, source in template.model_dump(exclude_none=True).items():
                    unknown = template_variables(source) - columns - TEMPLATE_BUILTINS
                    if unknown:
                        location = ("experiment", "variants", v_index, "templates", step_id, locale, field_name)
                        problems.append(
                            Problem(
                                path,
                                line_of(text, location),
                                ".".join(map(str, location)),
                                f"unknown template variable(s) {', '.join(sorted(unknown))}",
                                f"columns of {model}: {', '.join(sorted(columns))}",
                            )
                        )
    return problems


def validate_paths(paths: list[Path], project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """Every problem in these spec files, as printable lines (empty when all are valid)."""
    models = dbt_model_columns(project_dir)
    problems: list[str] = []
    for path in paths:
        try:
            spec = load_spec(path)
        except SpecError as error:
            problems.append(str(error))
            continue
        problems.extend(str(problem) for problem in check_spec(path, spec, models))
    return problems
