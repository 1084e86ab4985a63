-- The file is loaded: in the same transaction as its rows, so a crash leaves both or neither.
insert into raw.loaded_files (
    entity, sha256, source_name, load_id, rows_read, rows_loaded, rows_unchanged, rows_quarantined
)
values (
    %(entity)s, %(checksum)s, %(source)s, %(load_id)s, %(rows_read)s, %(rows_loaded)s, %(rows_unchanged)s,
    %(rows_quarantined)s
)
on conflict (entity, sha256) do nothing
