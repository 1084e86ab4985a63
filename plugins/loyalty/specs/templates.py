"""Message rendering: sandboxed Jinja2 where a missing variable is an error, never an empty string.

Escaping follows the channel: only an email's HTML `body` escapes its values (`O'Brien & Sons` becomes
`O&#39;Brien &amp; Sons` in HTML, which a mail client shows as written). A subject line, an SMS and a
push title or text are plain text, where an entity would reach the customer as typed ("D&#39;Ávila"),
so they are rendered without escaping.

A template that only interpolates plain variables (`Hi {{ first_name }}`) is parsed once and
rendered by substitution: its literal text joined with each value (escaped for HTML), exactly what
Jinja's `{{ name }}` gives, at a tenth of the cost per message (the send path renders a thousand per
batch). Anything else (filters, tests, blocks) renders through Jinja.

Templates see the audience row's columns (customer features, recommendations, rewards) and
locale-aware filters: `{{ lifetime_revenue | money }}` gives "R$ 1.234,50" for pt-BR and
"$1,234.50" for en; `{{ last_order_date | date }}` gives "5 de jun. de 2026" / "Jun 5, 2026".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, cast

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, meta, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from loyalty.specs import Template, WorkflowSpec
from loyalty.specs.steps import Locale
from loyalty.unsubscribe import UNSUBSCRIBE_URL_PLACEHOLDER

CURRENCY = {"pt-BR": "BRL", "en": "USD"}
BABEL_LOCALE = {"pt-BR": "pt_BR", "en": "en_US"}


def _locale(context: Context) -> str:
    locale = context.get("locale") or "en"
    return locale if locale in BABEL_LOCALE else "en"


@pass_context
def _money(context: Context, value: Any, currency: str | None = None) -> str:
    locale = _locale(context)
    return format_currency(float(value), currency or CURRENCY[locale], locale=BABEL_LOCALE[locale])


@pass_context
def _number(context: Context, value: Any) -> str:
    return format_decimal(value, locale=BABEL_LOCALE[_locale(context)])


@pass_context
def _date(context: Context, value: Any, style: str = "medium") -> str:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return format_date(day, format=style, locale=BABEL_LOCALE[_locale(context)])


HTML_FIELDS = frozenset({"body"})  # an email's body; every other template field is plain text


@lru_cache(maxsize=2)
def environment(html: bool = True) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=html)
    env.filters.update(money=_money, number=_number, date=_date)
    return env


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool = True) -> JinjaTemplate:
    return environment(html).from_string(source)


def _substitution(source: str) -> list[tuple[str, str | None]] | None:
    """(literal, variable or None) pieces when the template is text and `{{ name }}` only."""
    pieces: list[tuple[str, str | None]] = []
    for node in environment().parse(source).body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append((child.data, None))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                pieces.append(("", child.name))
            else:
                return None
    return pieces


@lru_cache(maxsize=1024)
def renderer(source: str, html: bool = True) -> Callable[[Mapping[str, Any]], str]:
    """A function rendering `source` for one context, as HTML (values escaped) or as plain text."""
    jinja = _compiled(source, html).render
    pieces = _substitution(source)
    if pieces is None:
        return jinja
    value_text = escape if html else str

    def substitute(context: Mapping[str, Any]) -> str:
        out: list[str] = []
        for literal, name in pieces:
            if name is None:
                out.append(literal)
            elif name in context:
                out.append(value_text(context[name]))
            else:  # Jinja's globals, or its StrictUndefined error
                return jinja(context)
        return "".join(out)

    return substitute


def template_variables(source: str) -> set[str]:
    """The variables a template reads (for validating specs against the audience's columns)."""
    return meta.find_undeclared_variables(environment().parse(source))


def template_for(spec: WorkflowSpec, variant_id: str, step_id: str, locale: str | None) -> Template:
    """The variant's template for a step in the customer's locale, falling back to English."""
    by_locale = spec.variant(variant_id).templates[step_id]
    return by_locale.get(cast(Locale, locale or "en"), by_locale["en"])  # any column value; unknown -> "en"


TEMPLATE_FIELDS = tuple(Template.model_fields)


def render(template: Template, context: Mapping[str, Any]) -> dict[str, str]:
    """Every field the template defines, rendered for one customer (the body as HTML, the rest as text)."""
    return {
        name: renderer(source, name in HTML_FIELDS)(context)
        for name in TEMPLATE_FIELDS
        if (source := getattr(template, name)) is not None
    }


def message_context(spec: WorkflowSpec, channels: Iterable[str], context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The audience row, plus `unsubscribe_url` where an email of a marketing workflow may be rendered: a
    placeholder the email channel replaces with the message's signed link once its send id is at hand; and,
    rendering for one channel, `channel` (a text SMS and push share can say `{% if channel == 'sms' %}Reply
    STOP to opt out{% endif %}`)."""
    channels = tuple(channels)
    extra: dict[str, Any] = {"channel": channels[0]} if len(channels) == 1 else {}
    if spec.sends_marketing_email(channels) and "unsubscribe_url" not in context:
        extra["unsubscribe_url"] = UNSUBSCRIBE_URL_PLACEHOLDER
    return {**context, **extra} if extra else context


def render_message(
    spec: WorkflowSpec, variant_id: str, step_id: str, channel: str, context: Mapping[str, Any]
) -> tuple[str, str]:
    """(subject or title, body or text) of one step for one customer on one channel: an email's body as
    HTML; its subject, and an SMS or push, as plain text (a step without `text` sends its body unescaped)."""
    if channel == "reward":
        return "", ""
    template = template_for(spec, variant_id, step_id, context.get("locale"))
    context = message_context(spec, (channel,), context)

    def plain(source: str | None) -> str:
        return renderer(source, html=False)(context) if source is not None else ""

    if channel == "email":
        body = renderer(template.body, html=True)(context) if template.body is not None else ""
        return plain(template.subject), body
    return plain(template.title), plain(template.text if template.text is not None else template.body)
