"""The program config: what every workflow of a retailer's program shares, in one file.

`program.yml` sits beside the workflow specs (LOYALTY_WORKFLOWS_DIR; LOYALTY_PROGRAM_FILE points
elsewhere). Today it holds the contact policy every workflow gets by default (the frequency cap and
how long a message over it may wait) and the global holdout; a missing file means the defaults
below. It is validated like a spec: an error names the file, the line and the field.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs.journeys import Action
from loyalty.specs.loading import PROGRAM_FILE_NAME, SpecError, format_validation_error, read_yaml
from loyalty.specs.steps import StrictModel
from loyalty.specs.workflow import FrequencyCap, WorkflowSpec

DEFAULT_GLOBAL_HOLDOUT_SALT = "loyalty-global-holdout-v1"


class ContactPolicy(StrictModel):
    """Contact pressure across the whole program."""

    frequency_cap: FrequencyCap | None = Field(
        default_factory=lambda: FrequencyCap(max_messages=4, per_days=7),
        description=(
            "At most max_messages messages (every workflow and channel, rewards excepted) per customer in any "
            "per_days days. Every marketing workflow gets it unless its spec sets policies.frequency_cap; "
            "null turns it off."
        ),
    )
    defer_days: int = Field(
        3,
        ge=0,
        le=30,
        description=(
            "How many days a message over the cap, or losing its day to a higher-priority workflow, waits for a "
            "day it fits before it expires (reason expired:<why>). A message step's valid_days overrides it; 0 "
            "suppresses at once."
        ),
    )


class GlobalHoldout(StrictModel):
    """Customers held out of every workflow, so the program's total effect stays measurable."""

    pct: float = Field(0.02, ge=0, lt=1, description="Share of customers held out of everything; 0 turns it off.")
    salt: str = Field(
        DEFAULT_GLOBAL_HOLDOUT_SALT, min_length=1, description="Change it only to reshuffle everyone on purpose."
    )


class Program(StrictModel):
    contact_policy: ContactPolicy = ContactPolicy()
    global_holdout: GlobalHoldout = GlobalHoldout()

    def frequency_cap_for(self, spec: WorkflowSpec) -> FrequencyCap | None:
        """The workflow's own cap, else the program's for a marketing workflow (a transactional message the
        customer asked for is not held back by marketing pressure, though it counts towards the cap)."""
        if spec.policies.frequency_cap is not None:
            return spec.policies.frequency_cap
        return self.contact_policy.frequency_cap if spec.category == "marketing" else None

    def valid_days_for(self, action: Action) -> int:
        """How long a deferred message of this action may wait: the step's valid_days, else the program's."""
        return self.contact_policy.defer_days if action.valid_days is None else action.valid_days


def program_path() -> Path:
    return Path(os.environ.get("LOYALTY_PROGRAM_FILE") or WORKFLOWS_DIR / PROGRAM_FILE_NAME)


def load_program(path: Path | None = None) -> Program:
    """The program config from `path` (default: program_path()); the defaults when the file is missing.
    Raises SpecError naming the file, line and field."""
    path = path or program_path()
    return _load(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load(path: Path, _modified: int) -> Program:
    if not path.exists():
        return Program()
    data, text = read_yaml(path, SpecError)
    if data is None:
        return Program()
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the program config must be a YAML mapping")
    try:
        return Program.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(path, text, exc, "invalid program config")) from None
