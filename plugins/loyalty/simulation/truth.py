"""The true effect of each workflow in the simulated world, fixed before anything runs.

Model: a customer who receives (gets delivered) a workflow's message and would not otherwise buy
is persuaded with probability `persuasion_rate` to place one extra order inside the effect window.
So P(convert | treated & delivered) = b + (1 - b) * rate, where b is the no-message rate, and the
intent-to-treat lift a holdout comparison measures is rate * delivered_share * (1 - b).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowTruth:
    workflow_id: str
    persuasion_rate: float
    effect_window_days: int
    description: str


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
    )
}


def expected_absolute_lift(workflow_id: str, holdout_rate: float, delivered_share: float) -> float:
    """The intent-to-treat lift the holdout comparison should recover (see module docstring)."""
    truth = TRUTH[workflow_id]
    return truth.persuasion_rate * delivered_share * (1.0 - holdout_rate)
