-- Customers and trailing 365-day revenue per loyalty tier on the latest run date, lowest tier first: the
-- mart the Program overview dashboard reads too.
select
    loyalty_tier,
    customers::int as customers,
    revenue_365d::float as revenue_365d
from marts.metrics_loyalty_tiers
order by tier_rank
