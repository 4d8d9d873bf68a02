"""Read access to the project's own Delta tables, for sensors and for assets that compare a new load
with the previous one (the IO manager only hands an asset its *upstream* tables)."""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource
from deltalake import DeltaTable


class DeltaLakehouse(ConfigurableResource):
    """The Delta root the IO manager writes to (``OSIPI_DELTA_ROOT``); tables are ``<root>/<layer>/<name>``."""

    root_uri: str

    def table_uri(self, layer: str, name: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{layer}/{name}"

    def exists(self, layer: str, name: str) -> bool:
        return DeltaTable.is_deltatable(self.table_uri(layer, name))

    def scan(self, layer: str, name: str) -> pl.LazyFrame | None:
        """A lazy scan of the table, or None when it has never been written."""
        if not self.exists(layer, name):
            return None
        return pl.scan_delta(self.table_uri(layer, name))
