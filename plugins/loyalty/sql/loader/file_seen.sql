-- When the same entity's content (by sha256) was loaded before, if ever: loading it again is a no-op.
select loaded_files.loaded_at
from raw.loaded_files as loaded_files
where loaded_files.entity = %(entity)s and loaded_files.sha256 = %(checksum)s
