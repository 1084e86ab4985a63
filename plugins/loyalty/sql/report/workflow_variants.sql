-- The scorecard: one row per workflow and arm (holdout, global holdout, then the variants).
select *
from marts.metrics_workflow_variants
order by
    workflow_id,
    case arm_type when 'holdout' then 0 when 'global_holdout' then 1 else 2 end,
    variant
