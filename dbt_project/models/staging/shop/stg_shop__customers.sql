with

source as (

    select * from {{ source('shop', 'customers') }}

),

renamed as (

    select
        customer_id,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(phone), '') as phone,
        first_name,
        locale,
        timezone,
        birthday as birth_date,
        signup_at as signed_up_at,
        {{ loyalty.utc_date('signup_at') }} as signup_date,
        email_consent,
        sms_consent,
        push_consent,
        nullif(trim(push_token), '') as push_token,
        loaded_at

    from source

)

select * from renamed
