"""Workflow specs: one YAML file per loyalty workflow, validated by pydantic.

A spec is the single source of a workflow's DAG, audience, experiment, journey and policies, so
every error names the file, the line and the field (loyalty.specs.loading turns pydantic's errors
into a `SpecError`). The JSON Schema for editors is `WorkflowSpec.model_json_schema()`
(`loyalty specs schema`). Cross-checks that need the dbt project (does the audience model
exist, do templates only use its columns) live in loyalty.specs.checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from loyalty.specs.journeys import Action, JourneyError, compile_steps
from loyalty.specs.steps import Identifier, Locale, RewardStep, Step, StrictModel, Template


class Variant(StrictModel):
    id: Identifier
    weight: float = Field(gt=0, le=1)
    templates: dict[Identifier, dict[Locale, Template]] = Field(
        description="Per message step id, per locale ('en' is the fallback and required)."
    )

    @field_validator("templates")
    @classmethod
    def _english_fallback(cls, value: dict[str, dict[str, Template]]) -> dict[str, dict[str, Template]]:
        for step_id, by_locale in value.items():
            if "en" not in by_locale:
                raise ValueError(f"step {step_id!r} needs an 'en' template (the fallback locale)")
        return value


class Experiment(StrictModel):
    """Deterministic assignment: hash(salt, workflow, customer) decides holdout, then variant."""

    salt: str = Field(min_length=1)
    holdout_pct: float = Field(ge=0, lt=1)
    variants: list[Variant] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Experiment:
        total = sum(v.weight for v in self.variants)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"variant weights must sum to 1, got {total:g} (hint: adjust experiment.variants[*].weight)"
            )
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids) or "holdout" in ids:
            raise ValueError("variant ids must be unique and may not be 'holdout'")
        return self


class Audience(StrictModel):
    """The dbt model that lists who enters the journey on a run date.

    With `entered_on` naming a date column, entry is event-based (e.g. the order date for
    post-purchase) and waits count from that date; otherwise customers enter on the run date.
    """

    model: Identifier
    schema_: Identifier = Field("marts", alias="schema")
    entered_on: Identifier | None = None


class Objective(StrictModel):
    """What the workflow is for, e.g. reactivate 8% of lapsing customers by 2027-03-31."""

    metric: Literal["conversion_rate", "revenue_per_customer", "absolute_lift"]
    target: float
    deadline: dt.date
    description: str | None = None


class FrequencyCap(StrictModel):
    max_messages: int = Field(ge=1)
    per_days: int = Field(ge=1)


class QuietHours(StrictModel):
    start: dt.time
    end: dt.time


class Policies(StrictModel):
    """Contact policies; the frequency cap is shared across all workflows."""

    frequency_cap: FrequencyCap | None = None
    cooldown_days: int = Field(0, ge=0, description="Days before a customer may re-enter this workflow.")
    quiet_hours: QuietHours | None = None
    priority: int = Field(50, ge=0, le=100, description="Higher wins when workflows compete for a customer.")


class WorkflowSpec(StrictModel):
    id: Identifier
    name: str
    owner: str
    description: str
    tags: list[str] = Field(default=[])  # pydantic copies defaults per instance
    category: Literal["marketing", "transactional"] = Field(
        "marketing",
        description=(
            "marketing: every email carries a one-click unsubscribe (List-Unsubscribe, RFC 8058) and its body "
            "must link {{ unsubscribe_url }}; transactional (a receipt, a points statement the customer asked "
            "for): neither."
        ),
    )
    schedule: str | None = Field(
        "warehouse", description="'warehouse' (after the warehouse DAG's Asset), a cron/preset, or null (manual)."
    )
    start_date: dt.date = dt.date(2026, 1, 1)
    objective: Objective | None = None
    audience: Audience
    experiment: Experiment
    steps: list[Step] = Field(min_length=1)
    exit_on: list[Literal["purchased", "unsubscribed"]] = Field(
        default_factory=list, description="Conditions (since entry) that end the journey before its next step."
    )
    policies: Policies = Policies()
    attribution_window_days: int = Field(14, ge=1, le=90)
    batch_size: int = Field(1000, ge=1, le=1000)  # SendGrid: at most 1000 personalizations a request

    @field_validator("steps")
    @classmethod
    def _journey_compiles(cls, steps: list[Step], info: ValidationInfo) -> list[Step]:
        audience = info.data.get("audience")
        try:
            actions = compile_steps(steps, event_entry=bool(audience and audience.entered_on))
        except JourneyError as error:
            raise ValueError(str(error)) from None
        experiment = info.data.get("experiment")
        message_ids = {a.step_id for a in actions if a.kind == "message"}
        for variant in experiment.variants if experiment else []:
            missing = message_ids - set(variant.templates)
            if missing:
                raise ValueError(f"variant {variant.id!r} has no templates for step(s) {sorted(missing)}")
            unknown = set(variant.templates) - message_ids
            if unknown:
                raise ValueError(f"variant {variant.id!r} has templates for unknown step(s) {sorted(unknown)}")
        return steps

    def variant_weights(self) -> tuple[list[str], list[float]]:
        """Variant ids with cumulative weights, the shape the assignment SQL takes."""
        ids, cumulative, running = [], [], 0.0
        for variant in self.experiment.variants:
            running += variant.weight
            ids.append(variant.id)
            cumulative.append(running)
        cumulative[-1] = 1.0
        return ids, cumulative

    def sends_marketing_email(self, channels: Iterable[str]) -> bool:
        """Whether a message on these channels may be a marketing email: it then carries the one-click
        unsubscribe (headers and the body's `{{ unsubscribe_url }}`, see loyalty.unsubscribe)."""
        return self.category == "marketing" and "email" in channels

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.experiment.variants if v.id == variant_id)

    @property
    def runs_intraday(self) -> bool:
        """Whether the schedule runs more than once a day (`@hourly`, `*/15 * * * *`, `0 9,17 * * *`):
        each run then plans one slice of the day's audience, so the audience gate does not hold it
        against whole previous days (loyalty.quality.checks)."""
        if not self.schedule or self.schedule == "warehouse":
            return False
        if self.schedule.startswith("@"):
            return self.schedule == "@hourly"
        minute, hour, *_ = [*self.schedule.split(), "", ""]
        return not (minute.isdigit() and hour.isdigit())

    def channels(self) -> list[str]:
        """Every channel the workflow may send on (one send task and pool each), plus rewards."""
        found: list[str] = []
        for action in compile_journey(self):
            for channel in action.channels:
                if channel not in found:
                    found.append(channel)
        return found


def compile_journey(spec: WorkflowSpec) -> list[Action]:
    """Flatten the spec's step tree into actions in execution order."""
    return compile_steps(spec.steps, event_entry=spec.audience.entered_on is not None)


def reward_steps(spec: WorkflowSpec) -> dict[str, RewardStep]:
    """Every reward step of the journey, by id, wherever a branch puts it."""
    found: dict[str, RewardStep] = {}

    def walk(steps: list[Step]) -> None:
        for step in steps:
            if isinstance(step, RewardStep):
                found[step.id] = step
            for arm in (getattr(step, "then", None), getattr(step, "else_", None)):
                if arm:
                    walk(arm)

    walk(spec.steps)
    return found
