-- One row per run date, suite and expectation: the latest Great Expectations result of the day (a
-- rerun of the same day replaces what it shows), what was checked and how many rows failed. What the
-- Data quality dashboard reads, beside data_quality_quarantine.

with

results as (

    select * from {{ ref('stg_data_quality__quality_results') }}
    where run_date is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by run_date, suite_name, expectation_type, coalesce(column_name, '')
            order by validated_at desc, result_id desc
        ) as recency

    from results

),

final as (

    select
        run_date,
        case
            when suite_name like 'raw_%' then 'raw'
            when suite_name = 'features' then 'features'
            when suite_name like 'audience_%' then 'audience'
            else 'other'
        end as suite_kind,
        suite_name,
        case
            when suite_name like 'audience_%' then {{ dbt.right('suite_name', dbt.length('suite_name') ~ ' - 9') }}
        end as workflow_id,
        expectation_type,
        column_name,
        is_success,
        cast(element_count as {{ dbt.type_bigint() }}) as element_count,
        cast(coalesce(unexpected_count, 0) as {{ dbt.type_bigint() }}) as unexpected_count,
        validated_at

    from ranked
    where recency = 1

)

select * from final
