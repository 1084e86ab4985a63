"""Plain-variable templates render by substitution, exactly as Jinja would render them."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError
from markupsafe import Markup

from loyalty.specs import templates

TEMPLATES = [
    "Hi {{ first_name }}",
    "<p>We miss you, {{ first_name }}</p>\n",
    "{{first_name}}{{ last_name }} & {{ points }} points\n\n",
    "no variables at all",
    "",
    "{{ first_name | upper }}",  # a filter: Jinja renders it
    "{% if points %}{{ points }}{% else %}none{% endif %}",
    "{{ range }}",  # a Jinja global the context lacks: Jinja resolves it
]
CONTEXTS = [
    {"first_name": "Ana", "last_name": "Souza", "points": 120},
    {"first_name": '<b>O\'Brien & "Co"</b>', "last_name": None, "points": 0},
    {"first_name": Markup("<i>safe</i>"), "last_name": 1.5, "points": [1, 2], "extra": {"a": 1}},
]


class TestSubstitution:
    @pytest.mark.parametrize("source", TEMPLATES)
    @pytest.mark.parametrize("context", CONTEXTS, ids=["plain", "escaping", "markup-and-odd-types"])
    def test_same_text_as_jinja(self, source: str, context: dict) -> None:
        """The substitution renderer gives Jinja's exact output (autoescape, trailing newline,
        None, numbers, lists, Markup) for every template and context."""
        assert templates.renderer(source)(context) == templates._compiled(source).render(context)

    def test_only_plain_variable_templates_skip_jinja(self) -> None:
        """Text and `{{ name }}` only are substituted; filters, blocks and attributes go to Jinja."""
        assert templates._substitution("Hi {{ first_name }}!") == [("Hi ", None), ("", "first_name"), ("!", None)]
        for source in ("{{ x | money }}", "{% if a %}x{% endif %}", "{{ a.b }}", "{{ 'lit' }}"):
            assert templates._substitution(source) is None

    def test_missing_variable_is_still_an_error(self) -> None:
        """A variable the audience row lacks fails the render, as StrictUndefined does."""
        with pytest.raises(UndefinedError):
            templates.renderer("Hi {{ first_name }}")({"last_name": "Souza"})
