-- Retention per monthly cohort and month since the first order.
select *
from marts.metrics_retention_cohorts
order by cohort_month, months_since_first_order
