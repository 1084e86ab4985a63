-- Enter today's eligible customers into a workflow's journey, once per cycle, each assigned to the
-- holdout or a variant by a hash of (salt, workflow, customer). Customers in the global holdout
-- (a hash of (global salt, customer), the same for every workflow) are held out of every workflow.
-- Reruns and backfills insert nothing new.
-- {audience} is a validated, quoted identifier and {entered_on} a quoted column or the run date;
-- everything else is a bound parameter.
with audience as (
    select
        audience.customer_id,
        audience.cycle_key,
        -- entered_on: the audience's own column or the run date (the linter sees the bare name).
        {entered_on} as entered_on,  -- noqa: AL09
        to_jsonb(audience) as context
    from {audience} as audience
    where audience.run_date = %(run_date)s
),

hashed as (
    -- One md5 per row for the workflow's holdout and variant (its first and second 32 bits) and one
    -- for the global holdout; OFFSET 0 keeps Postgres from copying each md5 into every use.
    select
        audience.*,
        md5(%(salt)s || ':' || %(workflow_id)s || ':' || audience.customer_id) as workflow_digest,
        md5(%(global_salt)s || ':' || audience.customer_id) as global_digest
    from audience
    offset 0  -- noqa: AM09
),

bucketed as (
    -- 32 bits of a digest over 2^32, as loyalty.assignment.buckets: float8 division is exact here
    -- (a 32-bit integer over a power of two) and half the cost of numeric's.
    select
        hashed.*,
        ('x' || substr(hashed.workflow_digest, 1, 8))::bit(32)::bigint / 4294967296.0::float8 as holdout_bucket,
        ('x' || substr(hashed.workflow_digest, 9, 8))::bit(32)::bigint / 4294967296.0::float8 as variant_bucket,
        ('x' || substr(hashed.global_digest, 1, 8))::bit(32)::bigint / 4294967296.0::float8 as global_bucket
    from hashed
),

assigned as (
    select
        bucketed.*,
        bucketed.global_bucket < %(global_holdout_pct)s as is_global_holdout,
        bucketed.holdout_bucket < %(holdout_pct)s or bucketed.global_bucket < %(global_holdout_pct)s as is_holdout,
        -- The first variant whose cumulative weight exceeds the bucket: width_bucket counts the
        -- (ascending) cumulative weights at or below it.
        (%(variant_ids)s::text[])[width_bucket(bucketed.variant_bucket, %(cumulative_weights)s::float8[]) + 1]
            as variant_id
    from bucketed
),

cooling_down as materialized (
    -- Re-entry: this workflow's entries that can still be cooling down today's audience (entered
    -- less than cooldown_days before the earliest entry date in it). Read once, before the insert
    -- below adds rows to the same table (a plan that rescans the table per audience row sees it
    -- grow: quadratic), and not at all without a cooldown (the constant filter folds to false).
    select
        earlier.customer_id,
        earlier.cycle_key,
        earlier.entered_on
    from loyalty.journey_entries as earlier
    where %(cooldown_days)s::int > 0
        and earlier.workflow_id = %(workflow_id)s
        and earlier.entered_on > (
            select min({entered_on}) from {audience} as audience
            where audience.run_date = %(run_date)s
        ) - %(cooldown_days)s::int
),

not_cooling_down as (
    -- Without a cooldown the condition folds to true when planned: no anti-join to probe per row
    -- (~0.35 s per million entries, measured).
    select assigned.*
    from assigned
    where %(cooldown_days)s::int = 0 or not exists (
            select 1
            from cooling_down as earlier
            where earlier.customer_id = assigned.customer_id
                and earlier.cycle_key <> assigned.cycle_key
                and earlier.entered_on > assigned.entered_on - %(cooldown_days)s::int
                and earlier.entered_on <= assigned.entered_on
        )
)

insert into loyalty.journey_entries (
    workflow_id, customer_id, cycle_key, entered_on, run_date, variant, is_holdout, is_global_holdout, context
)
select
    %(workflow_id)s,
    customer_id,
    cycle_key,
    entered_on,
    %(run_date)s,
    case when is_holdout then 'holdout' else variant_id end as variant,
    is_holdout,
    is_global_holdout,
    context
from not_cooling_down
on conflict (workflow_id, customer_id, cycle_key) do nothing
