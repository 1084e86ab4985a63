-- The columns (names and types) of a source table or query, reading no row.
select source_rows.* from {relation} as source_rows
where false
