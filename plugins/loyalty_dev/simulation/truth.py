"""The true effect of each workflow in the simulated world, fixed before anything runs.

Model: a customer who receives (gets delivered) a workflow's message is persuaded with probability
`persuasion_rate` to place one extra order 1..`effect_window_days` days after delivery. A journey is
one exposure: messages of the same workflow delivered to the same customer within `journey_days` of
the episode's first delivered message add nothing (the world decides once per episode). `journey_days`
is the journey's span when it runs daily; each of its `follow_ups` (messages after a wait) can go out
up to `run_every_days - 1` days later when the campaign runs less often, so the episode stretches by
that much per follow-up (`episode_days`). So, per
journey entry, P(convert | treated) = 1 − (1 − b)(1 − rate · d), where b is the no-message rate and d
the share of treated entries with a delivered message, and the intent-to-treat lift a holdout
comparison measures is rate · d · (1 − b). Every effect window plus the journey's span fits in the
workflow's 14-day attribution window, so the measurement can see the whole effect.

`feedback_request` has no effect at all (an NPS question sells nothing): the A/A check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowTruth:
    workflow_id: str
    persuasion_rate: float
    effect_window_days: int
    description: str
    journey_days: int = 0
    follow_ups: int = 0

    def episode_days(self, run_every_days: int = 1) -> int:
        """Days after an episode's first delivered message within which a message of the same workflow
        belongs to it, when the campaign runs every `run_every_days` days: a follow-up due after a
        wait is sent on the first run day on or after it."""
        return self.journey_days + self.follow_ups * (run_every_days - 1)


TRUTH: dict[str, WorkflowTruth] = {
    truth.workflow_id: truth
    for truth in (
        WorkflowTruth(
            "win_back",
            0.10,
            13,
            "A delivered win-back email persuades 10% of lapsed customers who would not have bought "
            "to place an order 1-13 days later.",
        ),
        WorkflowTruth(
            "welcome_series",
            0.15,
            9,
            "The welcome series (3 emails over 5 days, one exposure) persuades 15% of new signups to order "
            "1-9 days after the first delivered email.",
            journey_days=5,
            follow_ups=2,
        ),
        WorkflowTruth(
            "second_purchase",
            0.12,
            9,
            "The second-purchase nudge (and its follow-up, one exposure) persuades 12% of one-time buyers.",
            journey_days=5,
            follow_ups=1,
        ),
        WorkflowTruth(
            "post_purchase_cross_sell",
            0.08,
            10,
            "A cross-sell recommendation persuades 8% of recent buyers to order again within 10 days.",
        ),
        WorkflowTruth(
            "at_risk_save",
            0.10,
            9,
            "The save note (and the reminder with bonus points, one exposure) persuades 10% of at-risk customers.",
            journey_days=4,
            follow_ups=1,
        ),
        WorkflowTruth(
            "birthday_reward",
            0.08,
            13,
            "A birthday greeting persuades 8% of customers to order within 13 days.",
        ),
        WorkflowTruth(
            "vip_appreciation",
            0.06,
            13,
            "A thank-you to Champions persuades 6% of them to order within 13 days.",
        ),
        WorkflowTruth(
            "points_expiry_reminder",
            0.09,
            12,
            "A reminder that points are about to expire persuades 9% of those customers to order within 12 days.",
        ),
        WorkflowTruth(
            "feedback_request",
            0.0,
            13,
            "Asking for feedback changes nothing: zero effect (the A/A workflow).",
        ),
    )
}


def expected_absolute_lift(workflow_id: str, holdout_rate: float, delivered_share: float) -> float:
    """The intent-to-treat lift per entry the holdout comparison should recover (see module docstring)."""
    truth = TRUTH[workflow_id]
    return truth.persuasion_rate * delivered_share * (1.0 - holdout_rate)
