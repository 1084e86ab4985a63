"""Deterministic holdout and variant assignment.

The ledger computes assignment in SQL (sql/enter_journeys.sql) so it stays set-based; this module
is the same definition in Python, for previews and for the test that proves the two agree.
buckets(parts) = the first and the second 32 bits of md5("a:b:c"), each / 2**32: two independent
values uniform in [0, 1) from one hash (the workflow's holdout and its variant).

Two holdouts: each workflow's own (hash of salt, workflow, customer < experiment.holdout_pct) and
the global holdout shared by every workflow (hash of global salt, customer < global pct): a
customer in it is held out of every workflow, so the program's total effect stays measurable.
The global one is configured in the program config (loyalty.program: `global_holdout.pct`, default
0.02, 0 turns it off; `global_holdout.salt`, changed only to reshuffle everyone on purpose).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass

from loyalty.program import Program, load_program


@dataclass(frozen=True)
class GlobalHoldout:
    pct: float
    salt: str

    def __post_init__(self) -> None:
        if not 0 <= self.pct < 1:
            raise ValueError(f"the global holdout must be in [0, 1), got {self.pct}")

    def holds(self, customer_id: int) -> bool:
        return bucket(self.salt, customer_id) < self.pct


def global_holdout(program: Program | None = None) -> GlobalHoldout:
    """The global holdout as the program config sets it (the same file for every process of a deployment)."""
    configured = (program or load_program()).global_holdout
    return GlobalHoldout(pct=configured.pct, salt=configured.salt)


def buckets(*parts: object) -> tuple[float, float]:
    digest = hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - not security
    return int(digest[:8], 16) / 2**32, int(digest[8:16], 16) / 2**32


def bucket(*parts: object) -> float:
    return buckets(*parts)[0]


def assign(
    customer_id: int,
    workflow_id: str,
    salt: str,
    holdout_pct: float,
    variants: list[str],
    cumulative: list[float],
    global_: GlobalHoldout | None = None,
) -> str:
    """'holdout' or the variant id for one customer (global holdout included when given)."""
    holdout_bucket, variant_bucket = buckets(salt, workflow_id, customer_id)
    if holdout_bucket < holdout_pct or (global_ is not None and global_.holds(customer_id)):
        return "holdout"
    position = bisect.bisect_right(cumulative, variant_bucket)
    return variants[min(position, len(variants) - 1)]
