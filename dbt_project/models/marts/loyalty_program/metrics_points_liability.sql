-- One row per day from the first points event to the run date: points earned and expired that day and
-- the points outstanding at its end (the programme's liability in points and in money at point_value),
-- summed from the points ledger, so the liability as of any past day is on its row.

with

ledger as (

    select * from {{ ref('fct_points_ledger') }}

),

bounds as (

    select min(occurred_on) as first_day
    from ledger

),

days as (

    {{ dbt.date_spine(
        datepart='day',
        start_date="cast('2000-01-01' as date)",
        end_date=dbt.dateadd('day', 1, loyalty.run_date())
    ) }}

),

calendar as (

    select cast(days.date_day as date) as activity_date
    from days
    inner join bounds
        on cast(days.date_day as date) >= bounds.first_day

),

daily as (

    select
        occurred_on as activity_date,
        {{ loyalty.points_totals('net_points') }}

    from ledger
    group by occurred_on

),

final as (

    select
        calendar.activity_date,
        cast(coalesce(daily.points_earned, 0) as {{ dbt.type_bigint() }}) as points_earned,
        cast(coalesce(daily.points_rewarded, 0) as {{ dbt.type_bigint() }}) as points_rewarded,
        cast(coalesce(daily.points_expired, 0) as {{ dbt.type_bigint() }}) as points_expired,
        cast(
            sum(coalesce(daily.net_points, 0)) over (order by calendar.activity_date rows unbounded preceding)
            as {{ dbt.type_bigint() }}
        ) as points_outstanding,
        cast(
            sum(coalesce(daily.net_points, 0)) over (order by calendar.activity_date rows unbounded preceding)
            * {{ var('point_value') }}
            as {{ dbt.type_numeric() }}
        ) as liability_value

    from calendar
    left join daily
        on calendar.activity_date = daily.activity_date

)

select * from final
