"""Plain-variable templates render by substitution, exactly as Jinja would render them."""

from __future__ import annotations

from typing import ClassVar

import pytest
import yaml
from jinja2 import UndefinedError
from markupsafe import Markup

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec, templates

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
    @pytest.mark.parametrize("html", [True, False], ids=["html", "text"])
    @pytest.mark.parametrize("source", TEMPLATES)
    @pytest.mark.parametrize("context", CONTEXTS, ids=["plain", "escaping", "markup-and-odd-types"])
    def test_same_text_as_jinja(self, source: str, context: dict, html: bool) -> None:
        """The substitution renderer gives Jinja's exact output (escaping or not, trailing newline,
        None, numbers, lists, Markup) for every template and context."""
        assert templates.renderer(source, html)(context) == templates._compiled(source, html).render(context)

    def test_only_plain_variable_templates_skip_jinja(self) -> None:
        """Text and `{{ name }}` only are substituted; filters, blocks and attributes go to Jinja."""
        assert templates._substitution("Hi {{ first_name }}!") == [("Hi ", None), ("", "first_name"), ("!", None)]
        for source in ("{{ x | money }}", "{% if a %}x{% endif %}", "{{ a.b }}", "{{ 'lit' }}"):
            assert templates._substitution(source) is None

    def test_missing_variable_is_still_an_error(self) -> None:
        """A variable the audience row lacks fails the render, as StrictUndefined does."""
        with pytest.raises(UndefinedError):
            templates.renderer("Hi {{ first_name }}")({"last_name": "Souza"})


class TestEscapingFollowsTheChannel:
    """Only an email's HTML body escapes values; a subject, an SMS and a push are plain text."""

    CONTEXT: ClassVar[dict[str, str]] = {"first_name": "D'Ávila", "company": "O'Brien & Sons", "locale": "pt-BR"}

    def spec(self, channel: str, text_field: str) -> WorkflowSpec:
        """win_back with one step on `channel`, its template naming values that HTML would escape."""
        step = {"subject": "{{ company }}: oi {{ first_name }}", "body": "<p>Oi {{ first_name }} & {{ company }}</p>"}
        if channel != "email":
            step = {"title": "Oi {{ first_name }}", text_field: "{{ company }} <3 {{ first_name }}"}
        spec = yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text())
        spec["steps"] = [{"id": "hello", "type": "message", "channel": channel}]
        spec["experiment"]["variants"] = [{"id": "control", "weight": 1, "templates": {"hello": {"en": step}}}]
        return WorkflowSpec.model_validate(spec)

    def test_an_email_escapes_its_body_only(self) -> None:
        subject, body = templates.render_message(self.spec("email", "text"), "control", "hello", "email", self.CONTEXT)
        assert subject == "O'Brien & Sons: oi D'Ávila"
        assert body == "<p>Oi D&#39;Ávila & O&#39;Brien &amp; Sons</p>"  # the template's own & is its HTML

    @pytest.mark.parametrize("channel", ["sms", "push"])
    @pytest.mark.parametrize("text_field", ["text", "body"], ids=["text", "body-as-text"])
    def test_sms_and_push_are_plain_text(self, channel: str, text_field: str) -> None:
        title, text = templates.render_message(
            self.spec(channel, text_field), "control", "hello", channel, self.CONTEXT
        )
        assert (title, text) == ("Oi D'Ávila", "O'Brien & Sons <3 D'Ávila")

    def test_preview_shows_each_field_as_it_is_sent(self) -> None:
        rendered = templates.render(
            self.spec("email", "text").variant("control").templates["hello"]["en"], self.CONTEXT
        )
        assert rendered["subject"] == "O'Brien & Sons: oi D'Ávila"
        assert "&amp;" in rendered["body"]


def test_a_text_sms_and_push_share_knows_its_channel() -> None:
    """points_expiry_reminder's text goes by push, SMS or email fallback: only the SMS says how to opt out."""
    spec = WorkflowSpec.model_validate(yaml.safe_load((WORKFLOWS_DIR / "points_expiry_reminder.yml").read_text()))
    context = {
        "first_name": "Ana",
        "locale": "en",
        "points_expiring": 120,
        "points_expire_on": "2026-07-01",
        "points_balance": 300,
        "loyalty_tier": "gold",
        "favourite_category": "shoes",
    }
    sms = templates.render_message(spec, "reminder", "expiry_reminder", "sms", context)[1]
    title, push = templates.render_message(spec, "reminder", "expiry_reminder", "push", context)
    assert sms.endswith("Reply STOP to opt out") and "STOP" not in push
    assert title == "120 points expiring" and push.startswith("Ana, 120 points expire on")
