"""The dbt seeds generated from the workflow specs match the specs (`loyalty specs objectives`)."""

from __future__ import annotations

import csv
import io

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import load_spec, spec_paths
from loyalty.specs.seeds import SEEDS_DIR, render_seeds


class TestSpecSeeds:
    def test_committed_seeds_match_the_specs(self) -> None:
        """A spec change without `loyalty specs objectives` fails here, not in a dashboard."""
        for name, expected in render_seeds().items():
            assert (SEEDS_DIR / name).read_text() == expected, f"{name} is stale: run `loyalty specs objectives`"

    def test_every_spec_objective_and_variant_is_in_the_seeds(self) -> None:
        """One objective row per spec with its metric, target and deadline; one row per variant with its weight."""
        seeds = render_seeds()
        objectives = {row["workflow_id"]: row for row in csv.DictReader(io.StringIO(seeds["workflow_objectives.csv"]))}
        variants = list(csv.DictReader(io.StringIO(seeds["workflow_variants.csv"])))
        for path in spec_paths(WORKFLOWS_DIR):
            spec = load_spec(path)
            row = objectives[spec.id]
            assert spec.objective is not None
            assert row["objective_metric"] == spec.objective.metric
            assert float(row["objective_target"]) == spec.objective.target
            assert row["objective_deadline"] == spec.objective.deadline.isoformat()
            assert float(row["holdout_pct"]) == spec.experiment.holdout_pct
            assert int(row["attribution_window_days"]) == spec.attribution_window_days
            weights = {r["variant"]: float(r["weight"]) for r in variants if r["workflow_id"] == spec.id}
            assert weights == {v.id: v.weight for v in spec.experiment.variants}
