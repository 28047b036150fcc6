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

import numpy as np

__all__ = ["write_glove_text", "write_word2vec_binary", "write_word2vec_text"]

_ROWS_PER_WRITE = 4096


def _prepare(words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """Validate words/vectors and return the vectors as C-contiguous float32."""
    vec = np.asarray(vectors)
    if vec.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (vocab x dim) array, got shape {vec.shape}")
    if len(words) != vec.shape[0]:
        raise ValueError(
            f"words has {len(words)} entries but vectors has {vec.shape[0]} rows; "
            "row k of vectors must be the vector of words[k]"
        )
    if vec.shape[1] == 0:
        raise ValueError("vectors have dimension 0; nothing to export")
    vec = np.ascontiguousarray(vec, dtype=np.float32)
    finite = np.isfinite(vec).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"vector of word {words[bad]!r} (row {bad}) contains NaN or inf; "
            f"{int((~finite).sum())} row(s) are affected - the training diverged, lower the "
            "learning rate or check the input before exporting"
        )
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if not isinstance(w, str) or not w or any(ch.isspace() for ch in w):
            raise ValueError(
                f"word {w!r} at row {i} cannot be exported: words must be non-empty strings "
                "without whitespace (the formats are space-separated)"
            )
        j = seen.setdefault(w, i)
        if j != i:
            raise ValueError(
                f"word {w!r} appears twice (rows {j} and {i}); exported words must be unique "
                "(readers keep only the first)"
            )
    return vec


def _write_text(
    path: str | os.PathLike[str], words: Sequence[str], vec: np.ndarray, header: bool
) -> None:
    n, dim = vec.shape
    row_fmt = "%s" + " %.9g" * dim + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        if header:
            fh.write(f"{n} {dim}\n")
        for start in range(0, n, _ROWS_PER_WRITE):
            rows = vec[start : start + _ROWS_PER_WRITE].tolist()
            fh.write(
                "".join(
                    row_fmt % (w, *r)
                    for w, r in zip(words[start : start + _ROWS_PER_WRITE], rows, strict=True)
                )
            )


def write_word2vec_text(
    path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray
) -> None:
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
    vec = _prepare(words, vectors)
    _write_text(path, words, vec, header=True)


def write_glove_text(
    path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray
) -> None:
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
    vec = _prepare(words, vectors)
    _write_text(path, words, vec, header=False)


def write_word2vec_binary(
    path: str | os.PathLike[str], words: Sequence[str], vectors: np.ndarray
) -> None:
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
    vec = _prepare(words, vectors).astype("<f4", copy=False)
    n, dim = vec.shape
    with open(path, "wb") as fh:
        fh.write(f"{n} {dim}\n".encode("ascii"))
        for start in range(0, n, _ROWS_PER_WRITE):
            chunk = vec[start : start + _ROWS_PER_WRITE]
            parts: list[bytes] = []
            for w, row in zip(words[start : start + _ROWS_PER_WRITE], chunk, strict=True):
                parts.append(w.encode("utf-8") + b" ")
                parts.append(row.tobytes())
                parts.append(b"\n")
            fh.write(b"".join(parts))
