with

source as (

    select * from {{ source('data_quality', 'quality_results') }}

),

renamed as (

    select
        result_id,
        validated_at,
        run_date,
        suite_name,
        expectation_type,
        column_name,
        is_success,
        element_count,
        unexpected_count,
        details

    from source

)

select * from renamed
