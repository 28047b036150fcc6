"""Block reading of local text files (no Spark): what every share of a file sees."""

from __future__ import annotations

import gzip
import io
import random

import numpy as np
import pytest

from embedpipe.ingest import textfiles


class TrickleStream(io.RawIOBase):
    """A stream that returns at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, 3) if n > 0 else 3)


def corpus(seed: int = 0) -> bytes:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "épée", "naïve"]
    lines = []
    for _ in range(60):
        n = rng.choice([0, 1, 5, 40, 300])  # empty lines and lines longer than a block
        lines.append(" ".join(rng.choice(words) for _ in range(n)))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("block_bytes", [16, 64, 1000, 1 << 20])
def test_blocks_cover_the_stream_and_never_cut_a_token(block_bytes):
    data = corpus()
    blocks = list(textfiles.iter_blocks(io.BytesIO(data), block_bytes))
    assert b"".join(b.data for b in blocks) == data
    assert [b.offset for b in blocks] == list(np.cumsum([0] + [len(b.data) for b in blocks[:-1]]))
    tokens = [t for b in blocks for t in b.data.split()]
    assert tokens == data.split()


def test_the_cuts_depend_on_the_bytes_not_on_how_the_stream_delivers_them():
    data = corpus(1)
    whole = [b.data for b in textfiles.iter_blocks(io.BytesIO(data), 50)]
    trickled = [b.data for b in textfiles.iter_blocks(TrickleStream(data), 50)]
    assert trickled == whole


@pytest.mark.parametrize("shares", [1, 2, 3])
def test_the_shares_of_a_file_split_its_rows_without_gaps_or_overlaps(tmp_path, shares):
    data = corpus(2)
    path = tmp_path / "c.txt.gz"
    path.write_bytes(gzip.compress(data))
    parts = [list(textfiles.read_rows(str(path), 5, k, shares, block_bytes=64)) for k in range(shares)]
    rows = sorted(
        (int(i), t) for part in parts for r in part for i, t in zip(r.line_ids, r.text.to_pylist(), strict=True)
    )
    ids = [i for i, _ in rows]
    assert len(set(ids)) == len(ids)
    assert all(i >> textfiles.OFFSET_BITS == 5 for i in ids)
    # In line_id order the rows are the file again, and every line is counted once.
    assert "".join(t for _, t in rows).encode() == data
    assert sum(r.new_lines for part in parts for r in part) == data.count(b"\n")


def test_rows_with_invalid_utf8_are_replaced_and_flagged():
    block = textfiles.Block(b"caf\xe9 ok\nfine words\n\xff\xfe broken\n", 0, True)
    rows = textfiles.block_rows(block, 0)
    assert rows.bad_utf8.tolist() == [True, False, True]
    assert rows.text.to_pylist() == ["caf\ufffd ok\n", "fine words\n", "\ufffd\ufffd broken\n"]


def test_bz2_files_are_read_by_one_task_and_gzip_files_by_several():
    assert textfiles.shares_per_file(["a.txt.gz"], 4) == [4]
    assert textfiles.shares_per_file(["a.txt.bz2", "b.txt"], 4) == [1, 2]
    assert textfiles.shares_per_file([f"{i}.txt" for i in range(9)], 4) == [1] * 9


def test_a_multi_member_gzip_file_is_read_to_its_end(tmp_path):
    # `cat a.gz b.gz`, pigz and bgzip all write several gzip members; the
    # gzip module and ISA-L both read them as one stream.
    first, second = corpus(3), corpus(4)
    path = tmp_path / "joined.txt.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    with textfiles.open_stream(str(path)) as stream:
        assert stream.read() == first + second


def test_a_truncated_gzip_file_raises_when_read(tmp_path):
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(corpus(5))[:200])
    with pytest.raises((OSError, EOFError)), textfiles.open_stream(str(path)) as stream:
        stream.read()
