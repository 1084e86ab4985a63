-- The A/B results per workflow and variant.
select *
from marts.metrics_workflow_experiments
order by workflow_id, variant_position
