-- One row per month and (from, to) RFM segment pair: customers whose segment changed, from the SCD2
-- history in snap_customer_segments (a version ends when the next begins).

with

segment_history as (

    select * from {{ ref('snap_customer_segments') }}

),

transitions as (

    select
        later.customer_id,
        coalesce(earlier.rfm_segment, 'none') as from_segment,
        coalesce(later.rfm_segment, 'none') as to_segment,
        cast({{ dbt.date_trunc('month', 'later.dbt_valid_from') }} as date) as migration_month

    from segment_history as later
    inner join segment_history as earlier
        on later.customer_id = earlier.customer_id
            and earlier.dbt_valid_to = later.dbt_valid_from
    where
        coalesce(earlier.rfm_segment, 'none') <> coalesce(later.rfm_segment, 'none')
        and cast(later.dbt_valid_from as date) <= {{ loyalty.run_date() }}

),

final as (

    select
        migration_month,
        from_segment,
        to_segment,
        cast(count(*) as {{ dbt.type_int() }}) as customers

    from transitions
    group by migration_month, from_segment, to_segment

)

select * from final
