"""The parts of the workflow specs the metric marts need, as dbt seeds.

dbt cannot read the YAML specs, so each spec's objective, experiment design and attribution window
are written to two CSV seeds (`loyalty specs objectives` writes them; a test checks they match):

- `workflow_objectives.csv`: one row per workflow — objective metric, target, deadline and
  description, the holdout share and the attribution window;
- `workflow_variants.csv`: one row per workflow and A/B variant — its weight and position (the
  first variant is the control the others are compared with), the expected shares of the
  sample-ratio check;
- `workflow_rewards.csv`: one row per reward step — the points (and coupon) it grants, which the
  points ledger credits for every `sent` reward row of the send ledger.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from loyalty.paths import DBT_PROJECT_DIR, WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec, load_spec, reward_steps, spec_paths

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
OBJECTIVE_COLUMNS = (
    "workflow_id",
    "objective_metric",
    "objective_target",
    "objective_deadline",
    "objective_description",
    "holdout_pct",
    "attribution_window_days",
    "start_date",
)
VARIANT_COLUMNS = ("workflow_id", "variant", "variant_position", "weight")
REWARD_COLUMNS = ("workflow_id", "step_id", "points", "coupon")

__all__ = ["objective_rows", "render_seeds", "reward_rows", "variant_rows", "write_seeds"]


def objective_rows(specs: list[WorkflowSpec]) -> list[dict[str, object]]:
    rows = []
    for spec in sorted(specs, key=lambda s: s.id):
        objective = spec.objective
        rows.append(
            {
                "workflow_id": spec.id,
                "objective_metric": objective.metric if objective else "",
                "objective_target": f"{objective.target:g}" if objective else "",
                "objective_deadline": objective.deadline.isoformat() if objective else "",
                "objective_description": (objective.description or "") if objective else "",
                "holdout_pct": f"{spec.experiment.holdout_pct:g}",
                "attribution_window_days": spec.attribution_window_days,
                "start_date": spec.start_date.isoformat(),
            }
        )
    return rows


def variant_rows(specs: list[WorkflowSpec]) -> list[dict[str, object]]:
    return [
        {"workflow_id": spec.id, "variant": variant.id, "variant_position": position, "weight": f"{variant.weight:g}"}
        for spec in sorted(specs, key=lambda s: s.id)
        for position, variant in enumerate(spec.experiment.variants, start=1)
    ]


def reward_rows(specs: list[WorkflowSpec]) -> list[dict[str, object]]:
    return [
        {"workflow_id": spec.id, "step_id": step.id, "points": step.points or 0, "coupon": step.coupon or ""}
        for spec in sorted(specs, key=lambda s: s.id)
        for step in sorted(reward_steps(spec).values(), key=lambda r: r.id)
    ]


def _csv(columns: tuple[str, ...], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render_seeds(workflows_dir: Path = WORKFLOWS_DIR) -> dict[str, str]:
    """The seed files' contents by file name, from every spec in `workflows_dir`."""
    specs = [load_spec(path) for path in spec_paths(workflows_dir)]
    return {
        "workflow_objectives.csv": _csv(OBJECTIVE_COLUMNS, objective_rows(specs)),
        "workflow_variants.csv": _csv(VARIANT_COLUMNS, variant_rows(specs)),
        "workflow_rewards.csv": _csv(REWARD_COLUMNS, reward_rows(specs)),
    }


def write_seeds(workflows_dir: Path = WORKFLOWS_DIR, seeds_dir: Path = SEEDS_DIR) -> list[Path]:
    """Write the seeds; returns the paths whose content changed."""
    changed = []
    for name, content in render_seeds(workflows_dir).items():
        path = seeds_dir / name
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            changed.append(path)
    return changed
