"""How big a text message is: SMS segments (GSM-7 or UCS-2) and push title/text limits.

Why it matters: carriers bill and deliver an SMS per segment, and one character outside the GSM-7
alphabet (a Portuguese `ã`, an emoji) switches the whole message to UCS-2, which fits 70 characters
in one segment instead of 160. A long concatenated message uses 153 (GSM-7) or 67 (UCS-2) per
segment for the joining header. Twilio refuses a body over 1600 characters (error 21617). Push
notifications are cut by the phone: Android shows about 65 characters of a title and 240 of a text.

`template_estimate` sizes a template before any customer is known (`loyalty specs validate`): its
literal text with each `{{ ... }}` counted as `VARIABLE_ALLOWANCE` characters, and every `{% %}`
branch kept (an over-estimate, never an under-estimate of the literal part).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_SMS_SEGMENTS",
    "PUSH_TEXT_MAX",
    "PUSH_TITLE_MAX",
    "SMS_MAX_CHARS",
    "SmsSize",
    "sms_size",
    "template_estimate",
]

# GSM 03.38: the basic alphabet (one septet each) and the extension table (an escape and a septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
SMS_MAX_CHARS = 1600  # Twilio refuses a longer body (21617)
MAX_SMS_SEGMENTS = 3  # what a spec may ask for, estimated at validation
PUSH_TITLE_MAX = 65
PUSH_TEXT_MAX = 240
VARIABLE_ALLOWANCE = 20  # characters a `{{ value }}` is counted as before it is known
_EXPRESSION = re.compile(r"{{.*?}}", re.DOTALL)
_STATEMENT_OR_COMMENT = re.compile(r"{%.*?%}|{#.*?#}", re.DOTALL)


@dataclass(frozen=True)
class SmsSize:
    """`units`: septets (GSM-7) or UTF-16 code units (UCS-2); `characters`: what a person counts."""

    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int
    segments: int

    def __str__(self) -> str:
        plural = "s" if self.segments != 1 else ""
        return f"{self.segments} segment{plural} ({self.encoding}, {self.characters} characters)"


def sms_size(text: str) -> SmsSize:
    """The encoding a carrier will use for `text` and how many segments it takes."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSize(encoding, len(text), units, segments)  # type: ignore[arg-type]


def template_estimate(source: str) -> str:
    """A stand-in text as long as the template's literal text plus `VARIABLE_ALLOWANCE` per value (see above).
    Values are counted as GSM-7 characters: the literal text decides the encoding."""
    text = _STATEMENT_OR_COMMENT.sub("", source)
    return _EXPRESSION.sub("x" * VARIABLE_ALLOWANCE, text)
