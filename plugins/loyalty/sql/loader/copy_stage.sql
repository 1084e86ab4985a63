copy load_stage ({columns}) from stdin (format csv)
