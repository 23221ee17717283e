"""Counter-based 64-bit hashes of unit ids: what makes a resampling unit's block and its
bootstrap weights a function of its id alone (:mod:`.partitioned`, :mod:`.bootstrap`).

* :func:`unit_keys`: SplitMix64's finalizer of an integer id, or of the 64-bit FNV-1a hash of
  a string id's UTF-8 bytes. The same id has the same key on every machine, in any
  partition, in any order.
* :func:`block_of`: a unit's block among ``blocks``, a hash of its key and the seed.

References: Steele, Lea and Flood (2014), Fast splittable pseudorandom number generators,
OOPSLA (SplitMix64); Fowler, Noll and Vo, the FNV-1a hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

#: 2**64 / golden ratio, SplitMix64's increment.
GOLDEN = 0x9E3779B97F4A7C15

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
#: Keeps the block hash apart from the weight streams of the same seed.
_BLOCK_SALT = 0xB10C5A17B10C5A17


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele, Lea and Flood 2014), element-wise, in place on uint64."""
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def mix64_scalar(value: int) -> int:
    """:func:`mix64` of one Python integer (no numpy overflow warnings)."""
    value &= _MASK
    value ^= value >> 30
    value = (value * 0xBF58476D1CE4E5B9) & _MASK
    value ^= value >> 27
    value = (value * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def unit_keys(ids: Any) -> np.ndarray:
    """The 64-bit key of each id: integers (any width) or strings, a numpy array, a list, a
    polars Series or a pyarrow array. Equal ids get equal keys on every machine."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not isinstance(ids, pa.Array):
        if hasattr(ids, "to_arrow"):  # polars
            ids = ids.to_arrow()
            if isinstance(ids, pa.ChunkedArray):
                ids = ids.combine_chunks()
        else:
            array = np.asarray(ids)
            ids = pa.array(array if array.dtype != object else array.tolist())
    if ids.null_count:
        raise ValueError("unit ids hold nulls; every event needs an id to be resampled by")
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    if pa.types.is_integer(ids.type):
        values = np.asarray(ids.cast(pa.int64()).to_numpy(zero_copy_only=False)).view(np.uint64).copy()
        return mix64(values)
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_string_view(ids.type):
        return mix64(_fnv1a(ids.cast(pa.large_string())))
    raise TypeError(f"unit ids must be integers or strings; got {ids.type}")


def _fnv1a(strings: pa.LargeStringArray) -> np.ndarray:
    """64-bit FNV-1a of each string's UTF-8 bytes, vectorised over strings byte position by
    byte position."""
    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset : strings.offset + n + 1]
    data = strings.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    active = np.flatnonzero(lengths > 0)
    position = 0
    while active.size:
        hashes[active] ^= data[starts[active] + position].astype(np.uint64)
        hashes[active] *= np.uint64(_FNV_PRIME)
        position += 1
        active = active[lengths[active] > position]
    return hashes


def block_of(keys: np.ndarray, *, seed: int, blocks: int) -> np.ndarray:
    """The block (``0 .. blocks - 1``) of each unit key, for ``seed``."""
    salt = np.uint64(mix64_scalar(mix64_scalar(seed + GOLDEN) ^ _BLOCK_SALT))
    return (mix64(np.asarray(keys, dtype=np.uint64) ^ salt) % np.uint64(blocks)).astype(np.int64)
