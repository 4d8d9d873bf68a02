"""osipi-dagster: PI Web API data into Delta Lake tables, orchestrated by Dagster."""

import warnings

# Dagster features this project relies on knowingly are marked beta/preview: single-run backfills
# (``backfill_policy``), partitioned asset checks and the column-schema change checks. Every process that loads
# the definitions (code server, each run worker) would print the same warnings once per asset, i.e. over and over
# in ``dagster dev``.
# Matched by message, so the Dagster-free ``osipi_dagster.pi`` does not import Dagster for this.
for _message in (
    r"Parameter `backfill_policy` of function `asset` is currently in beta",
    r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
    r"Function `build_column_schema_change_checks` is currently in beta",
):
    warnings.filterwarnings("ignore", message=_message)
