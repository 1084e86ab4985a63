-- Before a raw check quarantines a window's failing rows: remove the rows an earlier check of the same
-- window quarantined (rows loaded after %(loaded_after)s; all when it is null), so a rerun never
-- duplicates them. Load-contract quarantine rows (other rules) stay.
delete from raw.quarantine
where source_table = %(source_table)s
    and rule like 'expectation:%%'
    and (%(loaded_after)s::timestamptz is null or source_loaded_at > %(loaded_after)s::timestamptz)
