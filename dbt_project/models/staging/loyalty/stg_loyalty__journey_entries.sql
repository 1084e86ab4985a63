with

source as (

    select * from {{ source('loyalty', 'journey_entries') }}

),

renamed as (

    select
        workflow_id,
        customer_id,
        cycle_key,
        entered_on,
        run_date,
        variant,
        is_holdout,
        is_global_holdout,
        created_at

    from source

)

select * from renamed
