"""Workflow specs: one YAML file per loyalty workflow, validated by pydantic.

A spec is the single source of a workflow's DAG, audience, experiment, journey and policies, so
every error names the file, the line and the field; `load_spec` turns pydantic's errors into a
`SpecError`. The JSON Schema for editors is `WorkflowSpec.model_json_schema()`
(`loyalty specs schema`). Cross-checks that need the dbt project (does the audience model
exist, do templates only use its columns) live in loyalty.spec_checks.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern)]
Channel = Literal["email", "sms", "push"]
Locale = Literal["en", "pt-BR"]
Event = Literal["delivered", "opened", "clicked", "purchased"]
CHANNEL_CONSENT = {
    "email": ("email", "email_consent"),
    "sms": ("phone", "sms_consent"),
    "push": ("push_token", "push_consent"),
}


class SpecError(ValueError):
    """A spec that cannot be used, with a message naming the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Template(_Strict):
    """One message's content; Jinja2 with the audience row's columns as variables.

    Email uses subject and body; SMS and push use `text` (push also `title`).
    """

    subject: str | None = None
    body: str | None = None
    text: str | None = None
    title: str | None = None


class Variant(_Strict):
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


class Experiment(_Strict):
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


class Audience(_Strict):
    """The dbt model that lists who enters the journey on a run date.

    With `entered_on` naming a date column, entry is event-based (e.g. the order date for
    post-purchase) and waits count from that date; otherwise customers enter on the run date.
    """

    model: Identifier
    schema_: Identifier = Field("marts", alias="schema")
    entered_on: Identifier | None = None


class Objective(_Strict):
    """What the workflow is for, e.g. reactivate 8% of lapsing customers by 2027-03-31."""

    metric: Literal["conversion_rate", "revenue_per_customer", "absolute_lift"]
    target: float
    deadline: dt.date
    description: str | None = None


class FrequencyCap(_Strict):
    max_messages: int = Field(ge=1)
    per_days: int = Field(ge=1)


class QuietHours(_Strict):
    start: dt.time
    end: dt.time


class Policies(_Strict):
    """Contact policies; the frequency cap is shared across all workflows."""

    frequency_cap: FrequencyCap | None = None
    cooldown_days: int = Field(0, ge=0, description="Days before a customer may re-enter this workflow.")
    quiet_hours: QuietHours | None = None
    priority: int = Field(50, ge=0, le=100, description="Higher wins when workflows compete for a customer.")


class MessageStep(_Strict):
    id: Identifier
    type: Literal["message"]
    channel: Channel | list[Channel] = Field(
        description="One channel, or a fallback order such as [push, sms, email] (first with consent and address)."
    )

    @property
    def channels(self) -> tuple[str, ...]:
        return (self.channel,) if isinstance(self.channel, str) else tuple(self.channel)


class WaitStep(_Strict):
    """Wait N days, or until an event on the previous message (giving up after max_days)."""

    id: Identifier | None = None
    type: Literal["wait"]
    days: int | None = Field(None, ge=1)
    until: Event | None = None
    max_days: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _days_or_until(self) -> WaitStep:
        if (self.days is None) == (self.until is None):
            raise ValueError("a wait needs either days or until (hint: `days: 3` or `until: opened, max_days: 5`)")
        if self.until is not None and self.max_days is None:
            raise ValueError("a wait until an event needs max_days, so nobody waits forever")
        return self


class BranchStep(_Strict):
    """Split on what happened to the previous message; an empty arm ends the journey there."""

    id: Identifier
    type: Literal["branch"]
    when: Event = Field(description="The event on the previous message to branch on.")
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias="else")


class RewardStep(_Strict):
    """Grant points or issue a coupon, exactly once, through the send ledger."""

    id: Identifier
    type: Literal["reward"]
    points: int | None = Field(None, ge=1)
    coupon: str | None = None

    @model_validator(mode="after")
    def _something(self) -> RewardStep:
        if self.points is None and self.coupon is None:
            raise ValueError("a reward grants points or a coupon")
        return self


Step = Annotated[MessageStep | WaitStep | BranchStep | RewardStep, Field(discriminator="type")]
BranchStep.model_rebuild()


class WorkflowSpec(_Strict):
    id: Identifier
    name: str
    owner: str
    description: str
    tags: list[str] = []
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
    def _journey_compiles(cls, steps: list, info: ValidationInfo) -> list:
        from loyalty.journeys import JourneyError, compile_steps

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

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.experiment.variants if v.id == variant_id)

    def channels(self) -> list[str]:
        """Every channel the workflow may send on (one send task and pool each), plus rewards."""
        from loyalty.journeys import compile_journey

        found: list[str] = []
        for action in compile_journey(self):
            for channel in action.channels:
                if channel not in found:
                    found.append(channel)
        return found


def line_of(text: str, location: tuple[Any, ...]) -> int | None:
    """The 1-based line where a field path lives in the YAML text (best effort)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            pair = next(((key, value) for key, value in node.value if key.value == str(part)), None)
            if pair is None:
                return line
            line = pair[0].start_mark.line + 1  # the key's line: where a reader looks
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _format_error(path: Path, text: str, error: ValidationError) -> str:
    lines = [f"{path}: invalid workflow spec"]
    for item in error.errors():
        location = tuple(
            p for p in item["loc"] if not (isinstance(p, str) and p in {"message", "wait", "branch", "reward"})
        )
        where = ".".join(str(part) for part in location) or "(top level)"
        line = line_of(text, location)
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  line {line}: {where}: {message}" if line else f"  {where}: {message}")
    return "\n".join(lines)


def load_spec(path: Path) -> WorkflowSpec:
    """Parse and validate one spec file; raises SpecError naming the file, line and field."""
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
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
        raise SpecError(_format_error(path, text, exc)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: line {line_of(text, ('id',))}: id {spec.id!r} must match the file name {path.stem!r}")
    return spec


def spec_paths(directory: Path) -> list[Path]:
    return sorted(p for p in [*directory.glob("*.yml"), *directory.glob("*.yaml")] if not p.name.startswith("_"))
