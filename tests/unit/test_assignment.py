"""Holdout and variant assignment: deterministic, independent of order, close to the weights."""

from __future__ import annotations

from collections import Counter

from loyalty.assignment import assign, bucket, buckets


class TestAssignment:
    def test_same_inputs_same_arm(self) -> None:
        """A customer's arm depends only on (customer, workflow, salt): reruns agree."""
        first = [assign(c, "win_back", "s1", 0.2, ["a", "b"], [0.5, 1.0]) for c in range(2000)]
        second = [assign(c, "win_back", "s1", 0.2, ["a", "b"], [0.5, 1.0]) for c in reversed(range(2000))]
        assert first == list(reversed(second))

    def test_salt_reshuffles(self) -> None:
        """A new salt gives a new, independent split (a fresh experiment)."""
        one = [assign(c, "w", "s1", 0.5, ["a"], [1.0]) for c in range(2000)]
        two = [assign(c, "w", "s2", 0.5, ["a"], [1.0]) for c in range(2000)]
        agreement = sum(x == y for x, y in zip(one, two, strict=True)) / len(one)
        assert 0.4 < agreement < 0.6

    def test_shares_follow_weights(self) -> None:
        """20% holdout and a 50/50 split land within sampling error on 20,000 customers."""
        arms = Counter(assign(c, "win_back", "salt", 0.2, ["a", "b"], [0.5, 1.0]) for c in range(20_000))
        assert abs(arms["holdout"] / 20_000 - 0.2) < 0.015
        assert abs(arms["a"] / (arms["a"] + arms["b"]) - 0.5) < 0.02

    def test_bucket_range(self) -> None:
        """Buckets are in [0, 1)."""
        values = [bucket("x", i) for i in range(5000)]
        assert min(values) >= 0 and max(values) < 1

    def test_holdout_and_variant_halves_are_independent(self) -> None:
        """The variant comes from the digest's second 32 bits: customers with a low and a high
        holdout bucket split between variants alike (a dependence would skew treated arms)."""
        pairs = [buckets("salt", "win_back", c) for c in range(20_000)]
        low = [v < 0.5 for h, v in pairs if h < 0.5]
        high = [v < 0.5 for h, v in pairs if h >= 0.5]
        assert abs(sum(low) / len(low) - sum(high) / len(high)) < 0.03
        assert all(h != v for h, v in pairs[:100])
