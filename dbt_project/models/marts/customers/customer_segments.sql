-- One row per customer known on the run date: RFM quintile scores and named RFM segment
-- (seed rfm_segments), lifecycle stage, and persona (seed personas), on the features of dim_customers.
-- Incremental by run date, like dim_customers.

{{
    config(
        materialized='incremental',
        unique_key='run_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['run_date', 'customer_id'], 'unique': true}],
    )
}}

with

customers as (

    select
        customer_id,
        run_date,
        order_count,
        lifetime_revenue,
        average_order_value,
        first_order_date,
        days_since_last_order,
        expected_interpurchase_days,
        days_between_last_two_orders,
        tenure_days,
        loyalty_tier

    from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

personas as (

    select * from {{ ref('personas') }}

),

buyers as (

    select
        customer_id,
        days_since_last_order,
        order_count,
        lifetime_revenue

    from customers
    where order_count > 0

),

buyer_count as (

    select count(*) as buyers
    from buyers

),

-- Each distinct recency, frequency and monetary value with its rank among the buyers (ties share the
-- lowest rank of their group, as rank() gives them).
recency_ranks as (

    select
        days_since_last_order,
        {{ loyalty.rank_of_value_group('days_since_last_order desc') }} as value_rank

    from buyers
    group by days_since_last_order

),

frequency_ranks as (

    select
        order_count,
        {{ loyalty.rank_of_value_group('order_count') }} as value_rank

    from buyers
    group by order_count

),

monetary_ranks as (

    select
        lifetime_revenue,
        {{ loyalty.rank_of_value_group('lifetime_revenue') }} as value_rank

    from buyers
    group by lifetime_revenue

),

buyers_scored as (

    -- Quintile scores from the rank: 1 + floor(5 × (rank − 1) / (buyers − 1)), capped at 5. Ties share
    -- a rank, so they share a score and the scores never depend on row order; the lowest value always
    -- scores 1 and the highest 5.
    select
        buyers.customer_id,
        {{ loyalty.quintile_score('recency_ranks.value_rank', 'buyer_count.buyers') }} as recency_score,
        {{ loyalty.quintile_score('frequency_ranks.value_rank', 'buyer_count.buyers') }} as frequency_score,
        {{ loyalty.quintile_score('monetary_ranks.value_rank', 'buyer_count.buyers') }} as monetary_score

    from buyers
    cross join buyer_count
    inner join recency_ranks
        on buyers.days_since_last_order = recency_ranks.days_since_last_order
    inner join frequency_ranks
        on buyers.order_count = frequency_ranks.order_count
    inner join monetary_ranks
        on buyers.lifetime_revenue = monetary_ranks.lifetime_revenue

),

buyers_with_frequency_monetary as (

    select
        *,
        cast(floor((frequency_score + monetary_score) / 2.0 + 0.5) as {{ dbt.type_int() }})
            as frequency_monetary_score

    from buyers_scored

),

score_cells as (

    select distinct
        recency_score,
        frequency_monetary_score

    from buyers_with_frequency_monetary

),

-- The segment of each (recency, frequency-monetary) cell that occurs: the first rule by priority.
score_cells_segmented as (

    select
        score_cells.recency_score,
        score_cells.frequency_monetary_score,
        rfm_segments.rfm_segment,
        row_number() over (
            partition by score_cells.recency_score, score_cells.frequency_monetary_score
            order by rfm_segments.priority
        ) as segment_match_rank

    from score_cells
    left join rfm_segments
        on
            score_cells.recency_score
            between rfm_segments.recency_score_min and rfm_segments.recency_score_max
            and score_cells.frequency_monetary_score
            between rfm_segments.frequency_monetary_score_min and rfm_segments.frequency_monetary_score_max

),

buyers_segmented as (

    select
        buyers_with_frequency_monetary.customer_id,
        buyers_with_frequency_monetary.recency_score,
        buyers_with_frequency_monetary.frequency_score,
        buyers_with_frequency_monetary.monetary_score,
        buyers_with_frequency_monetary.frequency_monetary_score,
        score_cells_segmented.rfm_segment

    from buyers_with_frequency_monetary
    left join score_cells_segmented
        on
            buyers_with_frequency_monetary.recency_score = score_cells_segmented.recency_score
            and buyers_with_frequency_monetary.frequency_monetary_score = score_cells_segmented.frequency_monetary_score
            and score_cells_segmented.segment_match_rank = 1

),

customers_with_lifecycle as (

    select
        customers.*,
        case
            when customers.order_count = 0 and customers.tenure_days < {{ var('lifecycle_new_days') }} then 'new'
            when customers.order_count = 0 then 'prospect'
            when
                {{ dbt.datediff('customers.first_order_date', 'customers.run_date', 'day') }}
                < {{ var('lifecycle_new_days') }}
                then 'new'
            when customers.days_since_last_order > {{ var('lifecycle_churned_after_days') }} then 'churned'
            when customers.days_since_last_order > {{ loyalty.lapse_threshold_days('customers.expected_interpurchase_days') }}
                then 'lapsing'
            when customers.days_between_last_two_orders > {{ loyalty.lapse_threshold_days('customers.expected_interpurchase_days') }}
                then 'reactivated'
            else 'active'
        end as lifecycle_stage

    from customers

),

customers_matched_to_personas as (

    select
        customers_with_lifecycle.customer_id,
        personas.persona,
        row_number() over (
            partition by customers_with_lifecycle.customer_id
            order by personas.priority
        ) as persona_match_rank

    from customers_with_lifecycle
    inner join personas
        on
            (personas.lifecycle_stage is null or personas.lifecycle_stage = customers_with_lifecycle.lifecycle_stage)
            and (personas.min_order_count is null or customers_with_lifecycle.order_count >= personas.min_order_count)
            and (personas.max_order_count is null or customers_with_lifecycle.order_count <= personas.max_order_count)
            and (
                personas.min_average_order_value is null
                or customers_with_lifecycle.average_order_value >= personas.min_average_order_value
            )
            and (
                personas.max_average_order_value is null
                or customers_with_lifecycle.average_order_value <= personas.max_average_order_value
            )

),

final as (

    select
        customers_with_lifecycle.customer_id,
        customers_with_lifecycle.run_date,
        buyers_segmented.recency_score,
        buyers_segmented.frequency_score,
        buyers_segmented.monetary_score,
        buyers_segmented.frequency_monetary_score,
        buyers_segmented.rfm_segment,
        customers_with_lifecycle.lifecycle_stage,
        customers_matched_to_personas.persona,
        customers_with_lifecycle.loyalty_tier

    from customers_with_lifecycle
    left join buyers_segmented
        on customers_with_lifecycle.customer_id = buyers_segmented.customer_id
    left join customers_matched_to_personas
        on
            customers_with_lifecycle.customer_id = customers_matched_to_personas.customer_id
            and customers_matched_to_personas.persona_match_rank = 1

)

select * from final
