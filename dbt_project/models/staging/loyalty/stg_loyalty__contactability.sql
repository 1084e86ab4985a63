with

source as (

    select * from {{ source('loyalty', 'contactability') }}

),

renamed as (

    select
        channel,
        case when channel = 'email' then lower(trim(address)) else trim(address) end as address,
        customer_id,
        is_contactable,
        reason as contactability_reason,
        source_event_id,
        changed_at,
        {{ loyalty.utc_date('changed_at') }} as changed_date,
        updated_at

    from source

)

select * from renamed
