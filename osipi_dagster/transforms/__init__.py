"""Plain polars transforms: PI JSON and raw frames in, the tables' schemas out. No Dagster, no HTTP."""
