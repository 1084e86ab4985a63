{#
    dbt's `unique` for a model whose rows arrive day by day: fails for every value of `column_name`
    held by more than one row, looking only at the values of the rows that match `recent` and counting
    each of them over every row of the model, through the key's index. A duplicate of an old row by a
    new one is caught; two old rows were checked by an earlier build. A plain `where:` would count the
    recent rows among themselves only.
    `recent` is `__loaded_since_previous_build__` (macros/incremental.sql), alone or `or` another
    condition. When that window is every row (--full-refresh, no previous build) this is dbt's `unique`.
    Nulls pass, as in `unique`.
#}
{% test unique_where_recent(model, column_name, recent) %}

{%- set window = loyalty.loaded_since_previous_build_condition('loaded_at') %}

with

{% if window == '(1 = 1)' %}

    keys_counted as (

        select
            {{ column_name }} as unique_field,
            count(*) as n_records

        from {{ model }}
        where {{ column_name }} is not null
        group by {{ column_name }}

    ),

{% else %}

    recent_keys as (

        select distinct {{ column_name }} as recent_key
        from {{ model }}
        where
            ({{ recent | replace('__loaded_since_previous_build__', window) }})
            and {{ column_name }} is not null

    ),

    -- A correlated count, one index lookup per recent key (a join would let the planner read the
    -- whole relation again to hash it).
    keys_counted as (

        select
            recent_keys.recent_key as unique_field,
            (
                select count(*) from {{ model }} as all_rows
                where all_rows.{{ column_name }} = recent_keys.recent_key
            ) as n_records

        from recent_keys

    ),

{% endif %}

duplicates as (

    select * from keys_counted
    where n_records > 1

)

select * from duplicates

{% endtest %}
