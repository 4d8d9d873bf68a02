"""Read access to the project's own Delta tables, for sensors and for assets that compare a new load
with the previous one (the IO manager only hands an asset its *upstream* tables)."""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource
from dagster_deltalake import AzureConfig, GcsConfig, LocalConfig, S3Config
from dagster_deltalake.config import ClientConfig
from deltalake import DeltaTable
from pydantic import Field

from osipi_dagster.resources.storage import storage_options


class DeltaLakehouse(ConfigurableResource):
    """The Delta root the IO manager writes to (``OSIPI_DELTA_ROOT``); tables are ``<root>/<layer>/<name>``."""

    root_uri: str
    # The IO manager's storage settings (resources.storage), so sensors read what the assets wrote.
    storage_options: AzureConfig | S3Config | LocalConfig | GcsConfig = Field(
        default_factory=LocalConfig, discriminator="provider"
    )
    client_options: ClientConfig | None = None

    def delta_options(self) -> dict[str, str]:
        return storage_options(self.storage_options, self.client_options)

    def table_uri(self, layer: str, name: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{layer}/{name}"

    def exists(self, layer: str, name: str) -> bool:
        return DeltaTable.is_deltatable(self.table_uri(layer, name), storage_options=self.delta_options())

    def scan(self, layer: str, name: str) -> pl.LazyFrame | None:
        """A lazy scan of the table, or None when it has never been written."""
        if not self.exists(layer, name):
            return None
        return pl.scan_delta(self.table_uri(layer, name), storage_options=self.delta_options())
