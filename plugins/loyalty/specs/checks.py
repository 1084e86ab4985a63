"""Cross-checks of specs against the dbt project: the audience model exists, templates only use
its columns, every channel has its consent and address columns; and every SMS or push template fits
its channel (segments, title and text length: loyalty.channels.message_size), so a message that is
too long fails here, not at the provider.

Read from the models' YAML (the documented contract), so validation needs no warehouse and no
dbt parse, and runs in CI, in an editor hook, or before a DAG file is ever parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from loyalty.channels.message_size import (
    MAX_SMS_SEGMENTS,
    PUSH_TEXT_MAX,
    PUSH_TITLE_MAX,
    VARIABLE_ALLOWANCE,
    sms_size,
    template_estimate,
)
from loyalty.paths import DBT_PROJECT_DIR
from loyalty.specs import CHANNEL_CONSENT, SpecError, Template, WorkflowSpec, compile_journey, line_of, load_spec
from loyalty.specs.templates import template_variables

# Jinja's own names, and the channel a message is rendered for (loyalty.specs.templates.message_context).
TEMPLATE_BUILTINS = {"loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace", "channel"}


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
    if any(action.prefers for action in compile_journey(spec)) and "preferred_channel" not in columns:
        problems.append(
            Problem(
                path,
                line_of(text, ("steps",)),
                "steps",
                f"a step lists `preferred` but {model} has no column 'preferred_channel'",
                "select dim_customers.preferred_channel in the model, or drop `preferred`",
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
    channels = {action.step_id: action.channels for action in compile_journey(spec) if action.kind == "message"}
    for v_index, variant in enumerate(spec.experiment.variants):
        for step_id, by_locale in variant.templates.items():
            marketing_email = spec.sends_marketing_email(channels.get(step_id, ()))
            given = {"unsubscribe_url"} if marketing_email else set()  # the email channel's signed link
            for locale, template in by_locale.items():
                if marketing_email and "unsubscribe_url" not in template_variables(template.body or ""):
                    location = ("experiment", "variants", v_index, "templates", step_id, locale, "body")
                    problems.append(
                        Problem(
                            path,
                            line_of(text, location) or line_of(text, location[:-1]),
                            ".".join(map(str, location)),
                            "a marketing email must link {{ unsubscribe_url }} (one-click unsubscribe)",
                            "add <a href='{{ unsubscribe_url }}'>Unsubscribe</a>, or set `category: transactional` "
                            "for messages the customer asked for",
                        )
                    )
                for field_name, source in template.model_dump(exclude_none=True).items():
                    unknown = template_variables(source) - columns - TEMPLATE_BUILTINS - given
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
    problems.extend(_size_problems(path, text, spec, channels))
    return problems


def _size_problems(path: Path, text: str, spec: WorkflowSpec, channels: dict[str, tuple[str, ...]]) -> list[Problem]:
    """SMS and push templates that cannot fit their channel (`channels`: each message step's), estimated before
    any value is known."""
    allowance = f"each value counted as {VARIABLE_ALLOWANCE} characters; `loyalty preview` sizes a real customer's"
    problems: list[Problem] = []
    for v_index, variant in enumerate(spec.experiment.variants):
        for step_id, by_locale in variant.templates.items():
            for locale, template in by_locale.items():
                location = ("experiment", "variants", v_index, "templates", step_id, locale)
                for field_name, message in _too_long(template, channels.get(step_id, ())):
                    where = (*location, field_name)
                    line = line_of(text, where) or line_of(text, location)
                    problems.append(Problem(path, line, ".".join(map(str, where)), message, allowance))
    return problems


def _too_long(template: Template, channels: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field, message) for each field of the template too long for a channel of its step."""
    found: list[tuple[str, str]] = []
    text_field = "text" if template.text is not None else "body"
    source = template.text if template.text is not None else template.body
    if "sms" in channels and source is not None:
        size = sms_size(template_estimate(source))
        if size.segments > MAX_SMS_SEGMENTS:
            found.append((text_field, f"too long for SMS: about {size}, at most {MAX_SMS_SEGMENTS} segments"))
    if "push" in channels:
        for field_name, value, limit in (
            (text_field, source, PUSH_TEXT_MAX),
            ("title", template.title, PUSH_TITLE_MAX),
        ):
            if value is not None and (length := len(template_estimate(value))) > limit:
                found.append((field_name, f"too long for push: about {length} characters, at most {limit}"))
    return found


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
