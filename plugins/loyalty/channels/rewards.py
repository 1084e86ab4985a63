"""Rewards as a channel: granting points or a coupon is a ledger row like a message, so the send
ledger's exactly-once guarantee covers it. dbt reads `sent` reward rows into the points ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loyalty.channels.base import Lookup, Message, Outcome, Reward, RewardResponse, SendResult
from loyalty.specs import WorkflowSpec, reward_steps


class RewardGranter:
    """Records the grant; the response says what was granted (read by dbt as points/coupons)."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.rewards = reward_steps(spec)

    def granted(self, messages: Sequence[Message]) -> RewardResponse:
        """What the batch's one reward step grants each of its recipients."""
        steps = {message.step_id for message in messages}
        if len(steps) != 1:
            raise ValueError(f"a reward batch holds one step, got {sorted(steps)}")
        reward = self.rewards[steps.pop()]
        return RewardResponse(reward=Reward(points=reward.points, coupon=reward.coupon))

    def send(self, messages: Sequence[Message], categories: Sequence[str]) -> SendResult:
        return SendResult(provider_message_id=None, status_code=200, response=self.granted(messages))

    def deliver(self, messages: Sequence[Message], categories: Sequence[str]) -> list[Outcome]:
        response = self.granted(messages)
        return [Outcome(m.send_id, "sent", None, None, response) for m in messages]

    def lookup_ids(self, send_ids: Iterable[str]) -> Lookup:
        """A grant is the ledger row itself (dbt reads `sent` reward rows): a claimed row that
        never got recorded was never granted, so completing it grants it exactly once."""
        return Lookup(found=dict.fromkeys(send_ids), authoritative=True)

    def close(self) -> None:
        return None
