-- Each buyer's (x, t_x, T) on a run date for the MBG/NBD fit (loyalty.churn_fit): repeat orders,
-- days from first to last order, days from first order to the run date.
select
    order_count - 1 as repeat_orders,
    last_order_date - first_order_date as days_first_to_last,
    run_date - first_order_date as days_first_to_run_date
from marts.dim_customers
where run_date = %(run_date)s
    and order_count > 0
