"""The inputs: the data source (data), its validation with Great Expectations, the transit calendar
and the windows materialized from the cleaned series."""
