-- One row per loyalty tier held on the latest run date built: its customers and their trailing 365-day
-- revenue. The Program overview dashboard's tier charts and `loyalty report` both read this mart.

with

customers as (

    select * from {{ ref('dim_customers') }}

),

loyalty_tiers as (

    select * from {{ ref('loyalty_tiers') }}

),

latest_run as (

    select max(run_date) as run_date
    from customers

),

latest_customers as (

    select customers.*

    from customers
    inner join latest_run
        on customers.run_date = latest_run.run_date

),

final as (

    select
        latest_customers.run_date,
        latest_customers.loyalty_tier,
        loyalty_tiers.tier_rank,
        cast(count(*) as {{ dbt.type_bigint() }}) as customers,
        sum(latest_customers.revenue_365d) as revenue_365d

    from latest_customers
    left join loyalty_tiers
        on latest_customers.loyalty_tier = loyalty_tiers.loyalty_tier
    group by latest_customers.run_date, latest_customers.loyalty_tier, loyalty_tiers.tier_rank

)

select * from final
