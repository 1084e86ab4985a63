-- Bring the BRIN indexes on the raw tables' loaded_at up to date before a load window is read.
-- Postgres summarizes a filled block range in the background only as far as autosummarize's small
-- queue allows; after a bulk load (a history backfill) thousands of ranges stay unsummarized until the
-- next VACUUM, and an unsummarized range matches every query, so the window would read the whole
-- table. Milliseconds when little is new. dbt does the same for its own reads (on-run-start,
-- dbt_project/macros/summarize_load_indexes.sql), since dbt also runs without the application.
select
    brin_summarize_new_values('raw.customers_loaded_at'::regclass) as customers_ranges,
    brin_summarize_new_values('raw.orders_loaded_at'::regclass) as orders_ranges,
    brin_summarize_new_values('raw.order_lines_loaded_at'::regclass) as order_lines_ranges
