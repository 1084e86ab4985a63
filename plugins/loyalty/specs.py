"""Workflow specs: one YAML file per loyalty workflow, validated by pydantic.

A spec is the single source of a workflow's DAG, audience, experiment and messages, so every
error must name the file and the field; `load_spec` turns pydantic's errors into `SpecError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern)]


class SpecError(ValueError):
    """A spec that cannot be used, with a message naming the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(_Strict):
    """One message's content; Jinja2 with the audience row's columns as variables."""

    subject: str
    body: str


class Variant(_Strict):
    id: Identifier
    weight: float = Field(gt=0, le=1)
    templates: dict[Literal["en", "pt-BR"], Template]

    @field_validator("templates")
    @classmethod
    def _english_fallback(cls, value: dict[str, Template]) -> dict[str, Template]:
        if "en" not in value:
            raise ValueError("every variant needs an 'en' template (the fallback locale)")
        return value


class Experiment(_Strict):
    """Deterministic assignment: hash(salt, workflow, customer) decides holdout, then variant."""

    salt: str = Field(min_length=1)
    holdout_pct: float = Field(ge=0, lt=1)
    variants: list[Variant] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Experiment:
        total = sum(v.weight for v in self.variants)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"variant weights must sum to 1, got {total:g}")
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids) or "holdout" in ids:
            raise ValueError("variant ids must be unique and may not be 'holdout'")
        return self


class Audience(_Strict):
    """The dbt model (in the marts schema) that lists eligible customers for a run date."""

    model: Identifier
    schema_: Identifier = Field("marts", alias="schema")


class MessageStep(_Strict):
    id: Identifier
    type: Literal["message"] = "message"
    channel: Literal["email"]


class WorkflowSpec(_Strict):
    id: Identifier
    name: str
    owner: str
    description: str
    tags: list[str] = []
    schedule: str | None = "@daily"
    start_date: str = "2026-01-01"
    audience: Audience
    experiment: Experiment
    steps: list[MessageStep] = Field(min_length=1)
    attribution_window_days: int = Field(14, ge=1, le=90)
    batch_size: int = Field(1000, ge=1, le=1000)  # SendGrid: at most 1000 personalizations a request

    def variant_weights(self) -> tuple[list[str], list[float]]:
        """Variant ids with cumulative weights, the shape the assignment SQL takes."""
        ids, cumulative, running = [], [], 0.0
        for variant in self.experiment.variants:
            running += variant.weight
            ids.append(variant.id)
            cumulative.append(running)
        cumulative[-1] = 1.0
        return ids, cumulative

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.experiment.variants if v.id == variant_id)


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid workflow spec"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def load_spec(path: Path) -> WorkflowSpec:
    """Parse and validate one spec file; raises SpecError naming the file and field."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a workflow spec must be a YAML mapping")
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_error(path, exc)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id {spec.id!r} must match the file name {path.stem!r}")
    return spec


def spec_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yml")) + sorted(directory.glob("*.yaml"))
