"""Atomic output folders and atomic, byte-reproducible writers for run outputs.

:func:`atomic_output_dir` makes a whole output folder atomic: a run writes into a fresh sibling
staging folder and swaps it in at the end, under a lock on the folder, so a reader (or the next
run) finds either the previous outputs intact or the new ones complete, never a mix; a failed
or interrupted run leaves the previous outputs as they were.

Every writer renders the whole file in memory, writes it to a temporary file *in the destination
directory*, ``fsync``s it and moves it over the target with :func:`os.replace` (atomic on POSIX
and Windows), then ``fsync``s the directory. A reader therefore sees either the old file or the
new one, never a torn write, and a crash leaves no half-written output under the final name.

The renderings are deterministic, so the same data give the same bytes:

* CSV: fixed column order, ``\\n`` line ends, floats with a fixed ``%.10g`` format;
* JSON: sorted keys, fixed indentation, non-finite floats written as ``null``;
* Parquet: an explicit Arrow schema, no pandas metadata, no statistics of creation time
  (Parquet files carry no timestamps; ``created_by`` names the pyarrow version only);
* PNG: matplotlib's Agg backend with the ``Software`` chunk removed (see :mod:`simulator.plots`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import fnmatch
import io
import json
import math
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FLOAT_FORMAT = "%.10g"
"""printf-style format of every float written to CSV (10 significant digits)."""

_TMP_PREFIX = ".tmp-"


class OutputFolderError(RuntimeError):
    """The output folder cannot be used: another run holds it, or it holds foreign files."""


@contextlib.contextmanager
def atomic_output_dir(
    path: str | os.PathLike[str], owned: Sequence[str] = ("*",)
) -> Iterator[Path]:
    """Write the folder ``path`` as a whole: yield a fresh, empty staging folder to write into;
    on success swap it with ``path`` in one atomic rename; on any exception (Ctrl-C included)
    delete it, leaving ``path`` as it was.

    * **Lock.** ``path`` (created empty if missing) is locked (``flock``) for the whole block; a
      second writer raises :class:`OutputFolderError` at once instead of mixing its files in.
    * **Swap.** Linux ``renameat2(RENAME_EXCHANGE)`` exchanges the two folders atomically: every
      reader sees the old folder or the new one. Where the file system cannot exchange, the old
      folder is renamed aside and the new one renamed in (a reader may then find no folder for a
      moment, never a mix).
    * **Safety.** An existing ``path`` is replaced only if each of its entries matches one of the
      glob patterns ``owned`` (the files this kind of output writes), so an ``--out`` that
      points at a folder of other files is refused, not wiped.
    * **Debris.** Staging folders are named ``.tmp-<name>.<random>`` beside ``path``; one left by
      a killed run (SIGKILL cannot be caught) is deleted by the next writer, under the lock.
    """
    target = Path(path)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    created = False
    if not target.exists():
        with contextlib.suppress(FileExistsError):
            target.mkdir()
            created = True
    lock = _lock_folder(target)
    staging: Path | None = None
    try:
        foreign = sorted(
            e.name for e in os.scandir(target) if not any(fnmatch.fnmatch(e.name, p) for p in owned)
        )
        if foreign:
            listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"{target} holds files that are not outputs of this command ({listed}); the "
                "whole folder is replaced by a run, so choose a new or empty output folder"
            )
        _remove_staging_debris(target)
        with ctrl_c_deferred():  # no Ctrl-C between creating the folder and knowing its name
            staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=parent))
        yield staging
        with ctrl_c_deferred():  # the swap and the clean-up run whole; Ctrl-C acts after them
            for entry in os.scandir(staging):
                if entry.is_file():
                    _fsync_path(entry.path)
            _fsync_path(staging)
            _swap(staging, target)
            _fsync_directory(parent)
            shutil.rmtree(staging, ignore_errors=True)  # the previous outputs, swapped out
            staging = None
    except BaseException:
        with ctrl_c_deferred():  # a second Ctrl-C must not stop the clean-up half-way
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
                if created:
                    with contextlib.suppress(OSError):
                        target.rmdir()  # only if still empty: nothing was there before this run
        raise
    finally:
        os.close(lock)


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block has finished, then deliver it as it would have
    been (``KeyboardInterrupt`` with Python's default handler). File-system steps that must not
    be cut half-way (creating the staging folder, the swap, deleting a staging folder) run in
    such a block. Outside the main thread signals cannot be handled, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


_STAGING_SUFFIX = re.compile(r"[a-z0-9_]+")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _staging_prefix(target: Path) -> str:
    return f"{_TMP_PREFIX}{target.name}."


def _remove_staging_debris(target: Path) -> None:
    """Delete staging folders of ``target`` left by killed runs (the caller holds the lock)."""
    prefix = _staging_prefix(target)
    for entry in os.scandir(target.parent):
        name = entry.name
        if name.startswith(prefix) and _STAGING_SUFFIX.fullmatch(name[len(prefix) :]):
            shutil.rmtree(entry.path, ignore_errors=True)


def _lock_folder(target: Path) -> int:
    """An open descriptor of ``target`` holding an exclusive ``flock``; the folder it locks is
    checked to still be ``target`` (a finishing run may just have swapped a new one in)."""
    for _ in range(100):
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputFolderError(
                f"{target} is being written by another run; wait for it to finish or choose "
                "another output folder"
            ) from None
        try:
            same = os.stat(target).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            target.mkdir()
    raise OutputFolderError(f"{target} keeps being replaced by other runs; try again")


def _swap(staging: Path, target: Path) -> None:
    """Exchange ``staging`` and ``target`` atomically (Linux), else rename old aside, new in."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is not None:
        done = renameat2(
            _AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE
        )
        if done == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(target))
    aside = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    os.replace(target, aside / "old")
    os.replace(staging, target)
    os.replace(aside, staging)  # the previous outputs now sit where the caller deletes them


def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _fsync_path(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_mode() -> int:
    """0o666 minus the process umask: what ``open(path, "w")`` would give (mkstemp gives 0o600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX + target.name + ".", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically, with ``\\n`` line ends whatever the platform."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON with sorted keys; numpy scalars/arrays and tuples become plain JSON."""
    text = json.dumps(_jsonable(obj), sort_keys=True, indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render rows as CSV text: floats with :data:`FLOAT_FORMAT`, strings quoted only if needed."""
    lines = [",".join(_csv_cell(c) for c in columns)]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"CSV row has {len(row)} cells, header has {len(columns)}")
        lines.append(",".join(_csv_cell(v) for v in row))
    return "\n".join(lines) + "\n"


def write_csv(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Path:
    """Write a CSV file atomically (see :func:`render_csv`)."""
    return atomic_write_text(path, render_csv(columns, rows))


def write_parquet(
    path: str | os.PathLike[str], columns: Mapping[str, np.ndarray], schema: pa.Schema
) -> Path:
    """Write column arrays as one Parquet file with an explicit ``schema``, atomically.

    ``columns`` must hold exactly the schema's fields. No pandas metadata is stored, and the
    compression (zstd) and row-group size are fixed, so equal inputs give equal bytes.
    """
    missing = [f.name for f in schema if f.name not in columns]
    extra = sorted(set(columns) - set(schema.names))
    if missing or extra:
        raise ValueError(
            f"Parquet columns do not match the schema: missing {missing}, extra {extra}"
        )
    arrays = [pa.array(np.asarray(columns[f.name]), type=f.type) for f in schema]
    table = pa.Table.from_arrays(arrays, schema=schema)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=1 << 20,
        use_dictionary=True,
        write_statistics=True,
    )
    return atomic_write_bytes(path, sink.getvalue())


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return FLOAT_FORMAT % value
    if value is None:
        return ""
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _jsonable(obj: Any) -> Any:
    """Convert numpy types, tuples, paths and non-finite floats into JSON-native values."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} value {obj!r} to JSON")
