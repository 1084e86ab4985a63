copy {target} ({columns}) from stdin (format csv)
