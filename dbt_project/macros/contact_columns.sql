{% macro contact_columns(relation) -%}
{#- The address, consent and routing columns every eligibility model hands the send ledger: the
    channel router reads them from the audience row (see plugins/loyalty/sql/plan_action.sql). The
    addresses: email, phone and push_token (the FCM registration token of the customer's app). -#}
{{ relation }}.email,
        {{ relation }}.phone,
        {{ relation }}.first_name,
        {{ relation }}.locale,
        {{ relation }}.timezone,
        {{ relation }}.email_consent,
        {{ relation }}.sms_consent,
        {{ relation }}.push_consent,
        {{ relation }}.push_token,
        {{ relation }}.preferred_channel
{%- endmacro %}

{% macro audience_columns(relation, cycle_key) -%}
{#- The leading columns of every eligibility model built on int_customers_reachable: the customer, the
    run date, the cycle (text: part of the send ledger's key) and the contact columns. -#}
{{ relation }}.customer_id,
        {{ relation }}.run_date,
        cast({{ cycle_key }} as {{ dbt.type_string() | lower }}) as cycle_key,
        {{ contact_columns(relation) }}
{%- endmacro %}
