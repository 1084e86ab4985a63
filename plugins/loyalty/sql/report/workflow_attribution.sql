-- Attribution per workflow and variant.
select *
from marts.metrics_workflow_attribution
order by workflow_id, variant
