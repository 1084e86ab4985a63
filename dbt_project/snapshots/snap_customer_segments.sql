{#
    SCD2 history of each customer's segment, lifecycle stage, persona, loyalty tier and consent:
    one row per customer per period in which none of them changed. dbt_valid_from / dbt_valid_to
    are run dates (as timestamps), so "who moved from Loyal to At Risk this month" is a query:

        select now_.customer_id
        from snapshots.snap_customer_segments as now_
        inner join snapshots.snap_customer_segments as before_
            on now_.customer_id = before_.customer_id and before_.dbt_valid_to = now_.dbt_valid_from
        where before_.rfm_segment = 'Loyal' and now_.rfm_segment = 'At Risk'
            and now_.dbt_valid_from >= '2026-06-01'

    History is recorded in run-date order, once per run date: building a run date that is not newer
    than the newest one already snapshotted (a rerun or a backfill) records nothing, so it cannot
    scramble the intervals (a version's id is the customer and its run date).
#}

{% snapshot snap_customer_segments %}
-- noqa: disable=LT02

{{
    config(
        unique_key='customer_id',
        strategy='check',
        check_cols=[
            'rfm_segment', 'lifecycle_stage', 'persona', 'loyalty_tier',
            'email_consent', 'sms_consent', 'push_consent',
        ],
        updated_at='segmented_at',
    )
}}

    {%- set existing = load_relation(this) -%}

    with

    segments as (

        select * from {{ ref('customer_segments') }}
        where run_date = {{ loyalty.run_date() }}

    ),

    customers as (

        select * from {{ ref('dim_customers') }}
        where run_date = {{ loyalty.run_date() }}

    ),

    final as (

        select
            segments.customer_id,
            cast(segments.run_date as {{ dbt.type_timestamp() }}) as segmented_at,
            segments.rfm_segment,
            segments.lifecycle_stage,
            segments.persona,
            segments.loyalty_tier,
            customers.email_consent,
            customers.sms_consent,
            customers.push_consent

        from segments
        inner join customers
            on segments.customer_id = customers.customer_id
        {% if existing is not none %}
            where
                cast(segments.run_date as {{ dbt.type_timestamp() }})
                > (select coalesce(max(latest.dbt_valid_from), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }} as latest)
        {% endif %}

    )

    select * from final

{% endsnapshot %}
