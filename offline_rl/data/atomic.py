"""Atomic file writes: a reader never sees a half-written output.

Every output is written to a temporary file in the destination folder and then moved
into place with :func:`os.replace`, which is atomic on POSIX file systems. A process
killed mid-write leaves at most a ``.<name>.*.tmp`` file behind, never a truncated output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, target)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_parquet(table, path: str | os.PathLike[str]) -> Path:
    """Write a pyarrow Table (or anything with ``to_arrow()``, e.g. a polars frame) as Parquet.

    Written with zstd compression and without wall-clock metadata, so the same table
    gives byte-identical files.
    """
    if not isinstance(table, pa.Table):
        table = table.to_arrow()
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
