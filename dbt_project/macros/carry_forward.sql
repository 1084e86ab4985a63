{#
    Per-customer features carried forward from one build to the next (int_customer_orders_aggregated,
    int_customer_favourite_categories): incremental models holding one row per customer as of the run
    date of their latest build.

    A full build (the first, or --full-refresh) computes every customer as of the run date D. An
    incremental build recomputes only the customers whose row can differ from the one the previous
    build left, as of its run date P (the newest computed_for_run_date in the table), and keeps
    everyone else's row as it is. A customer is recomputed when they have
      - an order placed after P, up to D (a new purchase);
      - an order (or, for the favourite category, an order line) loaded since the previous build's
        inputs (inputs_loaded_through) minus `late_arriving_days`: a late, corrected or re-delivered row;
      - a customer row loaded in that window: a customer landing late releases their quarantined orders;
      - an order leaving a trailing window between P and D: placed in (P − w, D − w] for each window w.
    Going back (D before P) recomputes every customer (and every customer the table holds), so any past
    day rebuilds identically.
    Recomputed customers left without a completed order get an empty row (zero orders) that replaces
    their old one and is deleted by the model's post-hook.
    Not seen until the customer's next recompute or a --full-refresh, like rows loaded later than the
    window: an order or line deleted from raw, a line released from quarantine by a product landing late.
#}

{#
    The previous build's state, as SQL literals read from {{ this }} when the model compiles (literals,
    not a subquery, so the database estimates how few rows change and plans the recompute around them):
    previous_run_date() is P, the newest computed_for_run_date; previous_inputs_loaded_through() the
    newest inputs_loaded_through. Both are null on a full build or an empty table, which makes every
    customer one to recompute. Unit tests override them (overrides: macros:).
#}
{% macro previous_run_date() -%}
    {%- set value = loyalty.previous_build_value(loyalty.date_to_iso_string('max(computed_for_run_date)')) -%}
    {{- return("cast('" ~ value ~ "' as date)" if value is not none else "cast(null as date)") -}}
{%- endmacro %}

{% macro previous_inputs_loaded_through() -%}
    {%- set value = loyalty.previous_build_value('cast(max(inputs_loaded_through) as ' ~ dbt.type_string() ~ ')') -%}
    {{- return(loyalty.timestamp_with_time_zone_literal(value)) -}}
{%- endmacro %}

{#
    A table built before the carry-forward (a plain table without computed_for_run_date) has no state:
    every customer is recomputed once, and the new columns are added (on_schema_change).
#}
{% macro previous_build_value(expression) -%}
    {%- if execute and is_incremental() -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- if 'computed_for_run_date' in columns and 'inputs_loaded_through' in columns -%}
            {{- return(run_query('select ' ~ expression ~ ' from ' ~ this).columns[0].values()[0]) -}}
        {%- endif -%}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{# A timestamp with time zone literal from its text (null for none). #}
{% macro timestamp_with_time_zone_literal(timestamp_text) -%}
    {{ return(adapter.dispatch('timestamp_with_time_zone_literal', 'loyalty')(timestamp_text)) }}
{%- endmacro %}

{#- ANSI SQL's name (dbt.type_timestamp() is a timestamp without time zone on DuckDB and Snowflake). -#}
{% macro default__timestamp_with_time_zone_literal(timestamp_text) -%}
    {{- "cast(" ~ ("'" ~ timestamp_text ~ "'" if timestamp_text is not none else "null") ~ " as timestamp with time zone)" -}}
{%- endmacro %}

{% macro postgres__timestamp_with_time_zone_literal(timestamp_text) -%}
    {{- "cast(" ~ ("'" ~ timestamp_text ~ "'" if timestamp_text is not none else "null") ~ " as timestamptz)" -}}
{%- endmacro %}

{#
    Whether a row of `orders` (int_orders_validated columns) makes its customer one to recompute, given
    the literals previous_run_date() and previous_inputs_loaded_through() (a model reads them once).
    `trailing_window_days`: the windows (days) the model sums over; an order leaving one changes the
    customer's row.
#}
{% macro order_changes_customer(orders, previous_run_date, previous_inputs_loaded_through, trailing_window_days=[]) -%}
    (
        {{ loyalty.recomputing_everyone(previous_run_date) }}
        or (
            {{ orders }}.ordered_date > {{ previous_run_date }}
            and {{ orders }}.ordered_date <= {{ loyalty.run_date() }}
        )
        or {{ loyalty.loaded_since_previous_build(orders ~ '.loaded_at', previous_inputs_loaded_through) }}
        {%- for window_days in trailing_window_days %}
        or (
            {{ orders }}.ordered_date > {{ dbt.dateadd('day', -1 * window_days, previous_run_date) | trim }}
            and {{ orders }}.ordered_date <= {{ dbt.dateadd('day', -1 * window_days, loyalty.run_date()) | trim }}
        )
        {%- endfor %}
    )
{%- endmacro %}

{#
    Whether this build recomputes every customer: no previous state (first build, or a table from before
    the carry-forward), or a run date before the previous build's. The models then also recompute every
    customer the table holds, so rows of customers without any order left are replaced too.
#}
{% macro recomputing_everyone(previous_run_date) -%}
    ({{ previous_run_date }} is null or {{ previous_run_date }} > {{ loyalty.run_date() }})
{%- endmacro %}

{#
    Whether a row was loaded since the previous build's inputs, minus the late-arriving window
    (every row when the previous build saw no input).
#}
{% macro loaded_since_previous_build(loaded_column, previous_inputs_loaded_through) -%}
    (
        {{ previous_inputs_loaded_through }} is null
        or {{ loaded_column }}
        >= {{ dbt.dateadd('day', -1 * var('late_arriving_days'), previous_inputs_loaded_through) | trim }}
    )
{%- endmacro %}

{#
    The customers an incremental build recomputes (the rules above), as one select of customer_id:
    orders placed or loaded since the previous build (and leaving `trailing_window_days`), order lines
    loaded since then when `with_order_lines` (features built from lines), customers loaded since then,
    and everyone the table holds when going back. `previous_run_date` / `previous_inputs_loaded_through`:
    the literals the model read once; `orders`, `order_lines` and `customers`: relations or CTE names with
    customer_id and loaded_at (orders: int_orders_validated's columns).
#}
{% macro customers_to_recompute(
    previous_run_date, previous_inputs_loaded_through, orders, customers, order_lines=none, trailing_window_days=[]
) -%}
        select changed_orders.customer_id
        from {{ orders }} as changed_orders
        where {{ loyalty.order_changes_customer(
            'changed_orders', previous_run_date, previous_inputs_loaded_through, trailing_window_days
        ) }}
{%- if order_lines is not none %}

        union

        select loaded_order_lines.customer_id
        from {{ order_lines }} as loaded_order_lines
        where {{ loyalty.loaded_since_previous_build('loaded_order_lines.loaded_at', previous_inputs_loaded_through) }}
{%- endif %}

        union

        select loaded_customers.customer_id
        from {{ customers }} as loaded_customers
        where {{ loyalty.loaded_since_previous_build('loaded_customers.loaded_at', previous_inputs_loaded_through) }}

        union

        select previous_customers.customer_id
        from {{ this }} as previous_customers
        where {{ loyalty.recomputing_everyone(previous_run_date) }}
{%- endmacro %}
