"""Reading spec files: YAML in, a validated `WorkflowSpec` out, or a `SpecError` naming file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from loyalty.specs.workflow import WorkflowSpec


class SpecError(ValueError):
    """A spec that cannot be used, with a message naming the file, line and field."""


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


STEP_TAGS = frozenset({"message", "wait", "branch", "reward"})  # pydantic's union tags: not a field a reader sees


def format_validation_error(
    path: Path, text: str, error: ValidationError, title: str, hidden: frozenset[str] = frozenset()
) -> str:
    """pydantic's errors as `FILE: TITLE` then one `line N: field.path: message` per error (any YAML file the
    project validates: specs, load mappings); location parts in `hidden` are left out of the path."""
    lines = [f"{path}: {title}"]
    for item in error.errors():
        location = tuple(p for p in item["loc"] if not (isinstance(p, str) and p in hidden))
        where = ".".join(str(part) for part in location) or "(top level)"
        line = line_of(text, location)
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  line {line}: {where}: {message}" if line else f"  {where}: {message}")
    return "\n".join(lines)


def read_yaml(path: Path, error: type[ValueError]) -> tuple[Any, str]:
    """A YAML file's data and its text (for line lookups); a file that cannot be read or parsed raises `error`
    naming the file (and the line), never a traceback. Specs, the program config and load mappings use it."""
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.safe_load(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        raise error(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None


def load_spec(path: Path) -> WorkflowSpec:
    """Parse and validate one spec file; raises SpecError naming the file, line and field."""
    data, text = read_yaml(path, SpecError)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a workflow spec must be a YAML mapping")
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(path, text, exc, "invalid workflow spec", STEP_TAGS)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: line {line_of(text, ('id',))}: id {spec.id!r} must match the file name {path.stem!r}")
    return spec


PROGRAM_FILE_NAME = "program.yml"  # the program config beside the specs (loyalty.program), not a workflow


def spec_paths(directory: Path) -> list[Path]:
    """The workflow specs in a folder: every YAML file but `_*` and the program config."""
    return sorted(
        p
        for p in [*directory.glob("*.yml"), *directory.glob("*.yaml")]
        if not p.name.startswith("_") and p.name != PROGRAM_FILE_NAME
    )
