"""Arrow record-batch helpers for the functions stages run in ``mapInArrow``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

__all__ = ["coalesce_batches", "string_buffers"]


def coalesce_batches(batches: Iterator[pa.RecordBatch], min_bytes: int) -> Iterator[pa.RecordBatch]:
    """Join consecutive Arrow batches until each holds at least ``min_bytes``
    (the last one may hold less); rows keep their order and empty batches
    are dropped.

    Spark hands mapInArrow batches of ``maxRecordsPerBatch`` rows, which for
    short pieces is little text. A kernel with a fixed cost per call (such as
    building a lookup table) should not pay it per batch.
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


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and row offsets of a ``string`` or ``large_string``
    array, zero-copy: row r is ``data[offsets[r]:offsets[r + 1]]``.

    This is how the byte kernels (embedpipe.kernels) see Arrow text. Null
    rows are not masked: their bytes, if any, are read like any other row.
    """
    large = pa.types.is_large_string(arr.type)
    if not (large or pa.types.is_string(arr.type)):
        raise TypeError(f"expected string or large_string, got {arr.type}")
    offsets_buf, data_buf = arr.buffers()[1:3]
    if offsets_buf is None:  # an empty array may have no buffers
        return np.zeros(0, np.uint8), np.zeros(1, np.int64 if large else np.int32)
    offsets = np.frombuffer(offsets_buf, np.int64 if large else np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets
