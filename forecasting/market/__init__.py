"""Market data: loaders of every supported layout, exchange calendars, cleaning, the embedded data set and
synthetic panels."""
