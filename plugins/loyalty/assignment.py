"""Deterministic holdout and variant assignment.

The ledger computes assignment in SQL (sql/plan_sends.sql) so it stays set-based; this module is
the same definition in Python, for previews and for the test that proves the two agree.
bucket(parts) = first 32 bits of md5("a:b:c") / 2**32, uniform in [0, 1).
"""

from __future__ import annotations

import bisect
import hashlib


def bucket(*parts: object) -> float:
    digest = hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - not security
    return int(digest[:8], 16) / 2**32


def assign(
    customer_id: int, workflow_id: str, salt: str, holdout_pct: float, variants: list[str], cumulative: list[float]
) -> str:
    """'holdout' or the variant id for one customer."""
    if bucket(salt, workflow_id, customer_id) < holdout_pct:
        return "holdout"
    position = bisect.bisect_right(cumulative, bucket(salt, workflow_id, customer_id, "variant"))
    return variants[min(position, len(variants) - 1)]
