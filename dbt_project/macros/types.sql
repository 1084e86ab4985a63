{#
    dbt's cross-database types, where an adapter's own is not what the project means. dbt looks for
    implementations of its `dbt` macros in the root project first.

    type_float(): dbt-duckdb's is `float`, a 4-byte REAL on DuckDB; the project means an 8-byte double
    (Postgres's `float`, the contracts' `double precision`), as p_alive and the churn scores need.
#}
{% macro duckdb__type_float() -%}
    double
{%- endmacro %}
