"""The building blocks of a workflow spec: identifiers, channels, message content and journey steps.

They sit apart from `WorkflowSpec` so the journey compiler (loyalty.specs.journeys) can read steps
and the spec can compile its journey, with imports pointing one way only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Template(StrictModel):
    """One message's content; Jinja2 with the audience row's columns as variables.

    Email uses subject and body; SMS and push use `text` (push also `title`).
    """

    subject: str | None = None
    body: str | None = None
    text: str | None = None
    title: str | None = None


class MessageStep(StrictModel):
    id: Identifier
    type: Literal["message"]
    channel: Channel | list[Channel | Literal["preferred"]] = Field(
        description=(
            "One channel, or a fallback order such as [push, sms, email] (the first with consent and address). "
            "[preferred, push, sms, email]: the customer's preferred channel (dim_customers.preferred_channel, from "
            "engagement) first when it is one of those and we may use it, then the order."
        )
    )
    valid_days: int | None = Field(
        None,
        ge=0,
        le=30,
        description=(
            "Days a message over the frequency cap, or outranked by a higher-priority workflow, may wait for a day "
            "it fits before it expires; the program's contact_policy.defer_days when unset, 0 suppresses at once."
        ),
    )

    @model_validator(mode="after")
    def _preferred_leads_a_fallback(self) -> MessageStep:
        order = [self.channel] if isinstance(self.channel, str) else self.channel
        if "preferred" in order[1:] or order == ["preferred"]:
            raise ValueError("`preferred` comes first and needs the channels it may be, e.g. [preferred, sms, email]")
        if len(set(order)) != len(order):
            raise ValueError(f"a channel is listed twice in {order}")
        return self

    @property
    def prefers(self) -> bool:
        """Whether the customer's preferred channel goes first."""
        return not isinstance(self.channel, str) and self.channel[0] == "preferred"

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels in fallback order (without `preferred`)."""
        return (self.channel,) if isinstance(self.channel, str) else tuple(c for c in self.channel if c != "preferred")


class WaitStep(StrictModel):
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


class BranchStep(StrictModel):
    """Split on what happened to the previous message; an empty arm ends the journey there."""

    id: Identifier
    type: Literal["branch"]
    when: Event = Field(description="The event on the previous message to branch on.")
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias="else")


class RewardStep(StrictModel):
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
