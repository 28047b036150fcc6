"""Write word vectors in the word2vec (text / binary) and GloVe text formats.

All writers store float32 values and round-trip exactly: text formats use
``%.9g`` (nine significant digits identify every float32 uniquely), binary uses
raw little-endian float32.  Files are UTF-8, one word per line, in the order
given (keep descending frequency so readers' ``limit=`` / ``restrict_vocab``
work).  gensim reads them with::

    KeyedVectors.load_word2vec_format(path, binary=False)                  # word2vec text
    KeyedVectors.load_word2vec_format(path, binary=True)                   # word2vec binary
    KeyedVectors.load_word2vec_format(path, binary=False, no_header=True)  # GloVe text
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

import numpy as np

__all__ = ["FORMATS", "VectorFileWriter", "write_glove_text", "write_word2vec_binary", "write_word2vec_text"]

_ROWS_PER_WRITE = 4096


FORMATS = ("word2vec", "word2vec-binary", "glove")


class VectorFileWriter:
    """Writes one of :data:`FORMATS` to an open binary file, a chunk of rows at a time.

    The export streams the vectors table through it, so a file of any size
    is written with one chunk in memory. Every chunk is checked: words
    non-empty, without whitespace and unique over the whole file; values
    finite. ``rows`` (the header's count) must match what is written.
    """

    def __init__(self, fh: IO[bytes], fmt: str, rows: int, dim: int) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        if dim == 0:
            raise ValueError("vectors have dimension 0; nothing to export")
        self.fh, self.fmt, self.rows, self.dim = fh, fmt, rows, dim
        self.written = 0
        self._seen: dict[str, int] = {}
        self._row_fmt = "%s" + " %.9g" * dim + "\n"
        if fmt != "glove":
            fh.write(f"{rows} {dim}\n".encode("ascii"))

    def write(self, words: Sequence[str], vectors: np.ndarray) -> None:
        """Append rows ``words[k]``, ``vectors[k]``."""
        vec = self._check(words, vectors)
        for start in range(0, len(words), _ROWS_PER_WRITE):
            chunk, names = vec[start : start + _ROWS_PER_WRITE], words[start : start + _ROWS_PER_WRITE]
            if self.fmt == "word2vec-binary":
                little = chunk.astype("<f4", copy=False)
                self.fh.write(
                    b"".join(
                        w.encode("utf-8") + b" " + row.tobytes() + b"\n" for w, row in zip(names, little, strict=True)
                    )
                )
            else:
                rows = chunk.tolist()
                self.fh.write(
                    "".join(self._row_fmt % (w, *r) for w, r in zip(names, rows, strict=True)).encode("utf-8")
                )
        self.written += len(words)

    def close(self) -> None:
        """Check that the header's row count was met."""
        if self.written != self.rows:
            raise ValueError(f"wrote {self.written} vectors, the header says {self.rows}")

    def _check(self, words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        vec = np.asarray(vectors)
        if vec.ndim != 2:
            raise ValueError(f"vectors must be a 2-D (vocab x dim) array, got shape {vec.shape}")
        if len(words) != vec.shape[0]:
            raise ValueError(
                f"words has {len(words)} entries but vectors has {vec.shape[0]} rows; "
                "row k of vectors must be the vector of words[k]"
            )
        if vec.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vec.shape[1]}, the file's is {self.dim}")
        vec = np.ascontiguousarray(vec, dtype=np.float32)
        finite = np.isfinite(vec).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"vector of word {words[bad]!r} (row {self.written + bad}) contains NaN or inf; "
                f"{int((~finite).sum())} row(s) are affected - the training diverged, lower the "
                "learning rate or check the input before exporting"
            )
        for i, w in enumerate(words, start=self.written):
            if not isinstance(w, str) or not w or any(ch.isspace() for ch in w):
                raise ValueError(
                    f"word {w!r} at row {i} cannot be exported: words must be non-empty strings "
                    "without whitespace (the formats are space-separated)"
                )
            j = self._seen.setdefault(w, i)
            if j != i:
                raise ValueError(
                    f"word {w!r} appears twice (rows {j} and {i}); exported words must be unique "
                    "(readers keep only the first)"
                )
        return vec


def _write_file(path: str | os.PathLike[str], fmt: str, words: Sequence[str], vectors: np.ndarray) -> None:
    vec = np.asarray(vectors)
    if vec.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (vocab x dim) array, got shape {vec.shape}")
    dim = vec.shape[1]
    with open(path, "wb") as fh:
        writer = VectorFileWriter(fh, fmt, len(words), dim)
        writer.write(words, vec)
        writer.close()


def write_word2vec_text(path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray) -> None:
    """Write the word2vec text format: ``"V dim"`` header, then ``word v1 ... vdim`` lines.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    words : sequence of str
        Words in row order; non-empty, unique, no whitespace.
    vectors : numpy.ndarray
        ``(len(words), dim)`` finite vectors; written as float32.

    Raises
    ------
    ValueError
        On shape mismatch, non-finite values, or unexportable/duplicate words.
    """
    _write_file(path, "word2vec", words, vectors)


def write_glove_text(path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray) -> None:
    """Write the GloVe text format: ``word v1 ... vdim`` lines, no header.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    words : sequence of str
        Words in row order; non-empty, unique, no whitespace.
    vectors : numpy.ndarray
        ``(len(words), dim)`` finite vectors; written as float32.

    Raises
    ------
    ValueError
        On shape mismatch, non-finite values, or unexportable/duplicate words.
    """
    _write_file(path, "glove", words, vectors)


def write_word2vec_binary(path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray) -> None:
    """Write the word2vec binary format.

    Layout: ASCII header ``"V dim\\n"``, then per word the UTF-8 word, one space,
    ``dim`` little-endian float32 values and ``"\\n"``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    words : sequence of str
        Words in row order; non-empty, unique, no whitespace.
    vectors : numpy.ndarray
        ``(len(words), dim)`` finite vectors; written as float32.

    Raises
    ------
    ValueError
        On shape mismatch, non-finite values, or unexportable/duplicate words.
    """
    _write_file(path, "word2vec-binary", words, vectors)
