"""The churn model is calibrated: on a synthetic retailer the model never saw (another seed than
the one its parameters were fitted on), the predicted probability of ordering in the next 365 days
matches what the simulated customers then really did, decile by decile.

The generator's customers buy at their own Poisson rate and drop out after any order with their own
probability (plugins/loyalty_dev/simulation/generator.py) — the story MBG/NBD assumes, but the model only
sees the orders released into raw up to the run date; the year after comes from sim.scheduled_orders."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from loyalty.dbt import run_dbt
from loyalty_dev.simulation import GeneratorConfig, generate

pytestmark = pytest.mark.integration

WORLD = GeneratorConfig(customers=20_000, seed=7, campaign_days=365, tail_days=0)
RUN_DATE = WORLD.campaign_start - dt.timedelta(days=1)

DECILES_SQL = """
with scored as (
    select
        customers.probability_of_order_next_365d as predicted,
        exists (
            select 1 from sim.scheduled_orders as future_orders
            where future_orders.customer_id = customers.customer_id
              and future_orders.ordered_at >= %(start)s
              and future_orders.ordered_at < %(start)s::date + 365
        ) as ordered_again
    from marts.dim_customers as customers
    where customers.run_date = %(run_date)s and customers.order_count > 0
),

binned as (
    select *, ntile(10) over (order by predicted) as decile from scored
)

select decile, count(*), avg(predicted), avg(case when ordered_again then 1.0 else 0.0 end)
from binned
group by decile
order by decile
"""


def test_probability_of_ordering_again_is_calibrated(dbt_warehouse: str) -> None:
    """Each decile's mean prediction is within 0.06 of its observed rate; overall within 0.04."""
    with psycopg.connect(dbt_warehouse) as conn:
        generate(conn, WORLD)
    run_dbt(
        ["build", "--indirect-selection", "cautious", "--select", "+dim_customers"], dbt_warehouse, run_date=RUN_DATE
    )
    with psycopg.connect(dbt_warehouse) as conn:
        deciles = conn.execute(DECILES_SQL, {"start": WORLD.campaign_start, "run_date": RUN_DATE}).fetchall()
    assert len(deciles) == 10
    gaps = {decile: round(float(predicted) - float(observed), 3) for decile, _, predicted, observed in deciles}
    assert all(abs(gap) <= 0.06 for gap in gaps.values()), gaps
    customers = sum(count for _, count, _, _ in deciles)
    overall = sum(count * (float(predicted) - float(observed)) for _, count, predicted, observed in deciles)
    assert abs(overall / customers) <= 0.04, gaps
    # And it discriminates: the top decile orders again far more often than the bottom one.
    assert float(deciles[-1][3]) - float(deciles[0][3]) > 0.7
