-- A source table or query streamed as CSV with a header (the loader reads it like a file).
copy (select {columns} from {relation} as source_rows) to stdout (format csv, header)  -- noqa: AL05
