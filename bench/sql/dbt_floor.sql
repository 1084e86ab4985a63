-- The floor for bench/dbt_build.py: the customer-features join done once, in one plain
-- CREATE TABLE AS straight from raw (no validation, no intermediate tables, no tests): per customer,
-- recency, frequency, monetary (lifetime, 90 and 365 days) and favourite category as of %(run_date)s.

drop table if exists public.bench_floor_customer_features;

create table public.bench_floor_customer_features as
with
completed_orders as (
    select order_id, customer_id, ordered_at, order_total
    from raw.orders
    where status = 'completed' and ordered_at < %(run_date)s::date + 1
),

customer_orders as (
    select
        customer_id,
        min(ordered_at)::date as first_order_date,
        max(ordered_at)::date as last_order_date,
        count(*) as order_count,
        sum(order_total) as lifetime_revenue,
        sum(order_total) filter (where ordered_at >= %(run_date)s::date - 89) as revenue_90d,
        sum(order_total) filter (where ordered_at >= %(run_date)s::date - 364) as revenue_365d
    from completed_orders
    group by customer_id
),

customer_categories as (
    select distinct on (completed_orders.customer_id)
        completed_orders.customer_id,
        products.category as favourite_category
    from raw.order_lines
    inner join completed_orders on order_lines.order_id = completed_orders.order_id
    inner join raw.products on order_lines.product_id = products.product_id
    group by completed_orders.customer_id, products.category
    order by completed_orders.customer_id, sum(order_lines.quantity) desc, products.category
)

select
    customers.customer_id,
    customers.email,
    customer_orders.first_order_date,
    customer_orders.last_order_date,
    %(run_date)s::date - customer_orders.last_order_date as days_since_last_order,
    coalesce(customer_orders.order_count, 0) as order_count,
    coalesce(customer_orders.lifetime_revenue, 0) as lifetime_revenue,
    customer_orders.revenue_90d,
    customer_orders.revenue_365d,
    customer_categories.favourite_category
from raw.customers
left join customer_orders on customers.customer_id = customer_orders.customer_id
left join customer_categories on customers.customer_id = customer_categories.customer_id
where customers.signup_at < %(run_date)s::date + 1;
