"""Arrow record-batch helpers for the functions stages run in ``mapInArrow``."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

__all__ = ["coalesce_batches"]


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
