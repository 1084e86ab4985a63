{% macro contact_columns(relation) -%}
{#- The address, consent and routing columns every eligibility model hands the send ledger: the
    channel router reads them from the audience row (see plugins/loyalty/sql/plan_action.sql). -#}
{{ relation }}.email,
        {{ relation }}.phone,
        {{ relation }}.first_name,
        {{ relation }}.locale,
        {{ relation }}.timezone,
        {{ relation }}.email_consent,
        {{ relation }}.sms_consent,
        {{ relation }}.push_consent,
        {{ relation }}.preferred_channel
{%- endmacro %}
