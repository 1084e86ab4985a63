-- One row per customer with any points event, as of the run date: the balance (earned minus expired),
-- what expires within points_expiry_warning_days and when the next lot expires. Derived from the points
-- ledger every run (never kept as a mutable column), so any past day recomputes identically.

with

ledger as (

    select * from {{ ref('fct_points_ledger') }}

),

open_lots as (

    select
        lot_id,
        customer_id,
        points,
        expires_on

    from ledger
    where
        event_type = 'earned'
        and expires_on > {{ loyalty.run_date() }}

),

next_expiry as (

    select
        customer_id,
        min(expires_on) as next_expiry_date

    from open_lots
    group by customer_id

),

expiring as (

    select
        open_lots.customer_id,
        sum(
            case
                when open_lots.expires_on <= {{ dbt.dateadd('day', var('points_expiry_warning_days'), loyalty.run_date()) }}
                    then open_lots.points
                else 0
            end
        ) as points_expiring_soon,
        sum(
            case when open_lots.expires_on = next_expiry.next_expiry_date then open_lots.points else 0 end
        ) as next_expiry_points

    from open_lots
    inner join next_expiry
        on open_lots.customer_id = next_expiry.customer_id
    group by open_lots.customer_id

),

totals as (

    select
        customer_id,
        {{ loyalty.points_totals('points_balance') }}

    from ledger
    group by customer_id

),

final as (

    select
        totals.customer_id,
        {{ loyalty.run_date() }} as run_date,
        cast(totals.points_balance as {{ dbt.type_int() }}) as points_balance,
        cast(totals.points_earned as {{ dbt.type_int() }}) as points_earned,
        cast(totals.points_rewarded as {{ dbt.type_int() }}) as points_rewarded,
        cast(totals.points_expired as {{ dbt.type_int() }}) as points_expired,
        cast(coalesce(expiring.points_expiring_soon, 0) as {{ dbt.type_int() }}) as points_expiring_soon,
        next_expiry.next_expiry_date,
        cast(coalesce(expiring.next_expiry_points, 0) as {{ dbt.type_int() }}) as next_expiry_points,
        cast(totals.points_balance * {{ var('point_value') }} as {{ dbt.type_numeric() }}) as points_value

    from totals
    left join next_expiry
        on totals.customer_id = next_expiry.customer_id
    left join expiring
        on totals.customer_id = expiring.customer_id

)

select * from final
