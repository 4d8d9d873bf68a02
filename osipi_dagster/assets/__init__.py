"""Software-defined assets, one module per table family."""

from osipi_dagster.assets.catalog import pi_tag_catalog
from osipi_dagster.assets.timeseries import pi_timeseries

__all__ = ["pi_tag_catalog", "pi_timeseries"]
