"""Reading local text files in the executors' Python workers, in blocks.

Spark's text reader hands each line to the JVM, which converts it to Arrow
for the Python tokenizer: for one compressed file that is one task on one
core, and for a 100 MB one-line corpus one 100 MB row. When the executors
share the driver's filesystem (``local[*]`` and ``local-cluster``), ingest
reads the files here instead, in the same Python task that cleans them:

* A file is read as a stream of blocks of about ``block_bytes``. A block
  ends at the last newline in it or, in a line longer than a block, at the
  last whitespace byte, so a task never holds more than about two blocks
  (up to ``MAX_TOKEN_BLOCKS`` for a run without whitespace) and cleaning
  (which never looks across whitespace) sees the same tokens.
* A file can be shared by several tasks (``shares``): each decompresses the
  whole stream and cleans only the blocks ``b`` with ``b % shares == share``.
  Decompressing gzip costs a fraction of cleaning, so one ``.gz`` file keeps
  every core busy. bz2 decompresses too slowly to repeat: one task per file.
* A row is a line, or the stretch of a long line inside one block. Its
  ``line_id`` is ``file_index << 40 | byte offset of the row in the
  decompressed file``: unique, and ordered like the input.

Every task cuts the same stream at the same places, so the rows do not depend
on how many tasks share a file.

The gain grows with cores: Spark reads one compressed file in one task
however many cores there are, while here every core gets a share. Where
Spark's reader already keeps every core busy (JVM decompression beside
Python cleaning) there is little to gain
(bench/results/2026-11-24-ingest-vocab/).
"""

from __future__ import annotations

import bz2
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

import numpy as np
import pyarrow as pa
from isal import igzip

BLOCK_BYTES = 4 << 20
OFFSET_BITS = 40
_WHITESPACE = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")
_NEWLINE = 10


@dataclass(frozen=True)
class Block:
    """Rows of one block: the bytes, where they start in the file, and
    whether the first row starts a line (False: it continues a long one)."""

    data: bytes
    offset: int
    starts_line: bool


@dataclass(frozen=True)
class Rows:
    """Arrow rows of one block, ready for the tokenizer."""

    line_ids: np.ndarray       # int64, file_index << 40 | byte offset
    text: pa.StringArray       # invalid UTF-8 replaced by U+FFFD; rows keep their newline
    bad_utf8: np.ndarray       # bool, the row had invalid bytes
    new_lines: int             # rows that start a line (for lines_read)


def open_stream(path: str) -> IO[bytes]:
    """A file's bytes, decompressed by its extension (``.gz``, ``.bz2``).

    gzip goes through ISA-L (``isal.igzip``, a drop-in for the ``gzip``
    module): every task sharing a ``.gz`` file decompresses all of it, so
    decompression is paid once per share, and ISA-L does it several times
    faster than ``gzip`` (bench/results/2026-11-28-ingest-isal-gzip/).
    """
    if path.endswith(".gz"):
        return cast(IO[bytes], igzip.open(path, "rb"))
    if path.endswith(".bz2"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    return open(path, "rb")


def shares_per_file(paths: list[str], parallelism: int) -> list[int]:
    """How many tasks read each file: enough to give every core a share when
    there are fewer files than cores (never for bz2)."""
    each = max(1, math.ceil(parallelism / max(len(paths), 1)))
    return [1 if p.endswith(".bz2") else each for p in paths]


# Bytes without any whitespace are held up to this many blocks before they
# are cut anyway: no real token is that long, and cleaning cuts such runs too.
MAX_TOKEN_BLOCKS = 4


def _cut(window: bytes) -> int:
    """Where a block taken from the front of ``window`` ends (exclusive): after
    its last newline, else after its last whitespace byte, else 0."""
    nl = window.rfind(b"\n")
    if nl >= 0:
        return nl + 1
    return max(window.rfind(w) for w in _WHITESPACE) + 1


def iter_blocks(stream: IO[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Cut a byte stream into blocks (see the module docstring).

    A block is cut inside the window of the next ``block_bytes`` bytes (wider
    only for a run without whitespace), so the cuts depend on the bytes
    alone, not on how many bytes each read of the stream returned.
    """
    buf = b""
    eof = False
    offset = 0
    starts_line = True
    limit = block_bytes
    while True:
        while not eof and len(buf) < limit:
            chunk = stream.read(block_bytes)
            eof = not chunk
            buf += chunk
        if not buf:
            return
        if eof and len(buf) <= limit:
            end = len(buf)
        else:
            end = _cut(buf[:limit])
            if end == 0:
                if limit < MAX_TOKEN_BLOCKS * block_bytes:
                    limit += block_bytes
                    continue
                end = limit
        block, buf = buf[:end], buf[end:]
        limit = block_bytes
        yield Block(block, offset, starts_line)
        offset += len(block)
        starts_line = block.endswith(b"\n")


def block_rows(block: Block, file_index: int) -> Rows:
    """Split a block into rows at newlines, as one Arrow string array.

    Zero-copy: each row keeps its newline, which cleaning treats as the
    whitespace it is.
    """
    buf = np.frombuffer(block.data, dtype=np.uint8)
    cuts = np.flatnonzero(buf == _NEWLINE) + 1
    if len(cuts) == 0 or cuts[-1] != len(buf):
        cuts = np.append(cuts, len(buf))
    offsets = np.concatenate([[0], cuts]).astype(np.int32)
    starts = offsets[:-1].astype(np.int64)
    line_ids = (np.int64(file_index) << OFFSET_BITS) + block.offset + starts
    new_lines = len(starts) - (0 if block.starts_line else 1)
    text, bad = _strings(block.data, offsets)
    return Rows(line_ids, text, bad, new_lines)


def _strings(data: bytes, offsets: np.ndarray) -> tuple[pa.StringArray, np.ndarray]:
    """Rows as a string array; rows with invalid UTF-8 are decoded with U+FFFD."""
    n = len(offsets) - 1
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    bad = np.zeros(n, dtype=bool)
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        # Rare: only a block with invalid bytes pays a decode per row.
        texts: list[str] = []
        for k in range(n):
            raw = data[offsets[k] : offsets[k + 1]]
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(raw.decode("utf-8", errors="replace"))
                bad[k] = True
        arr = pa.array(texts, pa.string())
    return arr, bad


def read_rows(
    path: str, file_index: int, share: int, shares: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Rows]:
    """The rows of this task's share of one file."""
    with open_stream(path) as stream:
        for b, block in enumerate(iter_blocks(stream, block_bytes)):
            if b % shares == share:
                yield block_rows(block, file_index)
