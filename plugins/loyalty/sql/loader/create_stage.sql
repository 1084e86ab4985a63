-- The staging table of one file's rows that do not go straight into raw (see apply.sql): the raw table's
-- columns (typed: the rows arrive parsed) without its constraints, plus where each row came from and the
-- error found while reading it. Dropped at commit.
create temporary table load_stage on commit drop as
select * from {target}
with no data;

alter table load_stage
drop column loaded_at,
add column source_line bigint,
add column read_reason text,
add column read_field text,
add column row_data jsonb;
