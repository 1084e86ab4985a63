-- The columns of one table as Postgres declares them (name, full type), in table order: the DuckDB
-- portability test creates the dbt sources with these (tests/dbt/test_portability.py).
select
    attributes.attname as column_name,
    format_type(attributes.atttypid, attributes.atttypmod) as data_type
from pg_catalog.pg_attribute as attributes
where
    attributes.attrelid = to_regclass(%(table_name)s)
    and attributes.attnum > 0
    and not attributes.attisdropped
order by attributes.attnum
