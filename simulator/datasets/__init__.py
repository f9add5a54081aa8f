"""Synthetic order-flow datasets: partitioned Parquet tables (and LOBSTER files) written block by
block on a Dask cluster, resumable, read back with :func:`open_dataset`. Schema:
``docs/DATASETS.md`` and :mod:`simulator.datasets.schema`."""

from simulator.datasets.driver import DatasetSummary, generate_dataset
from simulator.datasets.reader import Dataset, describe, open_dataset, read_metadata
from simulator.datasets.schema import SCHEMA_VERSION, TABLES

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Dataset",
    "DatasetSummary",
    "describe",
    "generate_dataset",
    "open_dataset",
    "read_metadata",
]
