"""Where a dataset's files live, how a partition is written, and the manifest of finished blocks.

Layout of a dataset folder ``DIR``::

    DIR/metadata.json                          the resolved scenario, seed, versions, tables
    DIR/<table>/block=<b>/part-0.parquet       one hive partition per block of paths and table
    DIR/lobster/path=<p>/{message,orderbook}.csv   (``--lobster``) LOBSTER files per path
    DIR/_manifest/block=<b>.json               written last: the block is complete

A partition is written to a hidden temporary file beside its final name and renamed into place
(atomic on POSIX), so no reader ever sees a partial file; the block's manifest entry is renamed
into place only after all its files. A rerun therefore skips the blocks that have a manifest
entry, rewrites the others (same bytes: a block is a pure function of the seed and its paths)
and deletes temporary files left by a killed run. Readers list only manifested blocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from simulator import outputs

TMP_PREFIX = ".tmp-"
MANIFEST = "_manifest"
METADATA = "metadata.json"


def block_name(block: int) -> str:
    """The hive partition name of a block (zero-padded: folders list in block order)."""
    return f"block={block:06d}"


def partition_file(root: Path, table: str, block: int) -> Path:
    return root / table / block_name(block) / "part-0.parquet"


def manifest_file(root: Path, block: int) -> Path:
    return root / MANIFEST / f"{block_name(block)}.json"


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``target``, moved onto it when the block exits cleanly
    (fsync'ed first); removed on any error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + target.name + ".", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


CODEC = "snappy"
"""Parquet compression of the partitions, chosen by measurement (``docs/DATASETS.md``): the
fastest writer of those compared (a third less CPU than zstd), and every Parquet reader has it."""


def write_parquet(target: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> int:
    """Stream ``tables`` (one row group each) into one Parquet file, atomically; the row count.
    Fixed settings so equal rows give equal bytes: :data:`CODEC`,
    dictionary pages for the string (dictionary) columns only (the float columns' values are
    too many for a dictionary to pay), statistics for the sort keys path, step and time (filters
    on them skip row groups)."""
    rows = 0
    strings = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    keys = [k for k in ("path", "step", "time") if k in schema.names]
    with atomic_path(target) as tmp:
        with pq.ParquetWriter(
            tmp,
            schema,
            compression=CODEC,
            use_dictionary=strings,
            write_statistics=keys,
        ) as writer:
            for table in tables:
                writer.write_table(table, row_group_size=max(table.num_rows, 1))
                rows += table.num_rows
    return rows


def write_manifest(root: Path, block: int, entry: dict) -> None:
    """Mark ``block`` complete (after all its files are in place)."""
    outputs.write_json(manifest_file(root, block), entry)


def finished_blocks(root: Path) -> dict[int, dict]:
    """The manifest: block number → its entry, for every complete block."""
    folder = root / MANIFEST
    done = {}
    if folder.is_dir():
        for f in folder.glob("block=*.json"):
            done[int(f.stem.split("=", 1)[1])] = json.loads(f.read_text())
    return dict(sorted(done.items()))


def remove_temporaries(root: Path) -> int:
    """Delete the hidden temporary files a killed run left behind; how many."""
    count = 0
    for f in root.rglob(TMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
            count += 1
    return count
