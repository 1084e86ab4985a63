{#
    Contract checks used by the `int_*_validated` models. Patterns are POSIX extended regular
    expressions, which every supported warehouse understands; only the operator differs.
#}

{# Whether `expression` matches the regular expression `pattern` (a Python string, quoted here). #}
{% macro regexp_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'loyalty')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regexp_matches(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}

{# DuckDB: regexp_matches searches the text (RE2 syntax, which reads these patterns as POSIX does). #}
{% macro duckdb__regexp_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro bigquery__regexp_matches(expression, pattern) -%}
    regexp_contains({{ expression }}, r'{{ pattern }}')
{%- endmacro %}

{# An email address: something@something.tld, no spaces, one @ (after trim and lower-casing). #}
{% macro is_well_formed_email(column) -%}
    {{ loyalty.regexp_matches(column, '^[^@ ]+@[^@ ]+[.][^@ ]+$') }}
{%- endmacro %}

{# A phone number in E.164: a plus, a non-zero country digit, 7 to 15 digits in all. #}
{% macro is_well_formed_phone(column) -%}
    {{ loyalty.regexp_matches(column, '^[+][1-9][0-9]{6,14}$') }}
{%- endmacro %}

{#
    An FCM registration token (the app install's push address): any text of at most
    `push_token_max_length` (4096) characters after trim; blank is null already. FCM's are about 160: a
    longer value is not a token but, say, a payload written into the column.
#}
{% macro is_well_formed_push_token(column) -%}
    ({{ dbt.length(column) }} <= {{ var('push_token_max_length') }})
{%- endmacro %}

{#
    A timestamp later than the moment its row reached the warehouse (plus a tolerance for clocks
    that run ahead) describes something that has not happened yet: the row is quarantined.
#}
{% macro is_in_the_future(event_timestamp, loaded_timestamp) -%}
    {{ event_timestamp }} > {{ dbt.dateadd('minute', var('future_timestamp_tolerance_minutes'), loaded_timestamp) | trim }}
{%- endmacro %}
