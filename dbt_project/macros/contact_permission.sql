{#- The contact-permission rule, written once: we may contact a customer on a channel when they
    consented to it, we hold the channel's address, and no provider or customer turned that address
    off (loyalty.contactability: unsubscribe, spam report, hard bounce, STOP, a dead number or token).

    Plain Jinja on purpose (no dbt context inside): dbt evaluates it as of the run date in
    int_customer_contactability, and the application's SQL imports this same file
    (`{% from "contact_permission.sql" import ... %}`, loyalty.ledger and loyalty.quality.checks) to
    evaluate it at plan and send time, against the suppression list as it is then: an unsubscribe
    that arrives by webhook after the day's dbt build still stops the day's messages.

    Arguments are SQL expressions; a null consent or suppression counts as no consent / not
    suppressed. -#}

{% macro channel_has_consent(consent, address) -%}
(coalesce({{ consent }}, false) and {{ address }} is not null)
{%- endmacro %}

{% macro channel_is_contactable(consent, address, is_suppressed) -%}
({{ channel_has_consent(consent, address) }} and not coalesce({{ is_suppressed }}, false))
{%- endmacro %}
