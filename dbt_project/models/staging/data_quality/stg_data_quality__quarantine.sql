with

source as (

    select * from {{ source('data_quality', 'quarantine') }}

),

renamed as (

    select
        quarantine_id,
        source_table,
        rule as quarantine_rule,
        row_data,
        quarantined_at

    from source

)

select * from renamed
