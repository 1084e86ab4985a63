-- The daily trend: every workflow's funnel summed per run date.
select
    run_date,
    sum(targeted)::int as targeted,
    sum(sent)::int as sent,
    sum(delivered)::int as delivered,
    sum(opened)::int as opened,
    sum(clicked)::int as clicked,
    sum(converted)::int as converted
from marts.metrics_workflow_funnel
group by run_date
order by run_date
