"""Message rendering: sandboxed Jinja2 where a missing variable is an error, never an empty string."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from loyalty.specs import Template, WorkflowSpec


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


@lru_cache(maxsize=256)
def _compiled(source: str):
    return environment().from_string(source)


def render(template: Template, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) for one customer."""
    return _compiled(template.subject).render(context), _compiled(template.body).render(context)


def template_for(spec: WorkflowSpec, variant_id: str, locale: str | None) -> Template:
    """The variant's template in the customer's locale, falling back to English."""
    templates = spec.variant(variant_id).templates
    return templates.get(locale or "en", templates["en"])  # type: ignore[call-overload]
