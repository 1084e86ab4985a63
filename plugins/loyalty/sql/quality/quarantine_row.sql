-- A raw row that broke an expectation, kept in raw.quarantine with its rule and its own loaded_at.
insert into raw.quarantine (source_table, rule, row_data, source_loaded_at)
values (%(source_table)s, %(rule)s, %(row_data)s::jsonb, %(source_loaded_at)s)
