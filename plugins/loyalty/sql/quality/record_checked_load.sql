-- What a run date's raw check read for one suite: the next run date's check reads only rows loaded
-- after `loaded_through` (a rerun of the run date updates it).
insert into raw.quality_checked_loads (suite_name, run_date, loaded_through, rows_checked)
values (%(suite_name)s, %(run_date)s, %(loaded_through)s, %(rows_checked)s)
on conflict (suite_name, run_date) do update set
    loaded_through = excluded.loaded_through,
    rows_checked = excluded.rows_checked,
    checked_at = now()
