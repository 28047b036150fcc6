"""Arrow record-batch helpers for the functions stages run in ``mapInArrow``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

__all__ = ["coalesce_batches", "pack_int64_lists", "unpack_int64_lists"]


def coalesce_batches(batches: Iterator[pa.RecordBatch], min_bytes: int) -> Iterator[pa.RecordBatch]:
    """Join consecutive Arrow batches until each holds at least ``min_bytes``
    (the last one may hold less); rows keep their order and empty batches
    are dropped.

    Spark hands mapInArrow batches of ``maxRecordsPerBatch`` rows, which for
    short pieces is little text. A kernel with a fixed cost per call (such as
    ``index_in`` hashing its whole value set) should not pay it per batch.
    """
    held: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        size += batch.nbytes
        if size >= min_bytes:
            yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]
            held, size = [], 0
    if held:
        yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]


# Packed int64 lists: a list of 64-bit integers as one binary value of 8 bytes
# per element (little-endian). Spark's cost for an array column is per
# element, for a binary column per value, so a 10,000-token piece passes
# through the JVM as one value instead of 10,000.
INT64_BYTES = 8


def pack_int64_lists(values: np.ndarray, offsets: np.ndarray) -> pa.BinaryArray:
    """List ``i`` is ``values[offsets[i]:offsets[i + 1]]``; ``offsets`` starts at 0
    and the packed bytes must stay under 2 GiB (Arrow's binary offsets are int32)."""
    byte_offsets = np.asarray(offsets, dtype=np.int64) * INT64_BYTES
    if len(byte_offsets) and byte_offsets[-1] >= 2**31:
        raise ValueError(f"{byte_offsets[-1]} bytes do not fit one Arrow binary array; pass fewer lists")
    data = np.ascontiguousarray(values, dtype="<i8")
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(byte_offsets) - 1, [None, pa.py_buffer(byte_offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def unpack_int64_lists(packed: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of a column written by :func:`pack_int64_lists`; offsets start at 0.

    Zero-copy where the buffer is aligned. A null value reads as an empty list.
    """
    if isinstance(packed, pa.ChunkedArray):
        packed = packed.combine_chunks()
    _, offset_buffer, data_buffer = packed.buffers()
    byte_offsets = np.frombuffer(offset_buffer, dtype=np.int32, count=len(packed) + 1, offset=packed.offset * 4)
    if np.any(byte_offsets % INT64_BYTES):
        raise ValueError("not a packed int64 column: a value's length is not a multiple of 8 bytes")
    start, stop = int(byte_offsets[0]), int(byte_offsets[-1])
    if data_buffer is None or stop == start:
        values = np.empty(0, dtype=np.int64)
    else:
        values = np.frombuffer(data_buffer, dtype="<i8", count=(stop - start) // INT64_BYTES, offset=start)
    return values.astype(np.int64, copy=False), (byte_offsets.astype(np.int64) - start) // INT64_BYTES
