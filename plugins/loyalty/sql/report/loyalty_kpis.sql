-- Program KPIs per month.
select *
from marts.metrics_loyalty_kpis
order by order_month
