"""Write and read word vectors in the word2vec (text / binary) and GloVe text formats.

fastText's ``.vec`` files are word2vec text. The readers check every line
and raise :class:`~embedpipe.errors.VectorFileError` naming the line and the fix.

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

from embedpipe.errors import VectorFileError

__all__ = [
    "FORMATS",
    "VectorFileWriter",
    "read_vector_file",
    "write_glove_text",
    "write_vector_file",
    "write_word2vec_binary",
    "write_word2vec_text",
]

_ROWS_PER_WRITE = 4096


FORMATS = ("word2vec", "word2vec-binary", "glove")
# Other names readers accept: fastText's .vec files are word2vec text.
_ALIASES = {"fasttext": "word2vec", "word2vec-text": "word2vec", "glove-text": "glove"}


def format_name(fmt: str) -> str:
    """The :data:`FORMATS` entry for ``fmt`` (also ``"fasttext"``)."""
    name = _ALIASES.get(fmt, fmt)
    if name not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS + tuple(_ALIASES)}, got {fmt!r}")
    return name


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


def write_vector_file(path: str | os.PathLike[str], fmt: str, words: Sequence[str], vectors: np.ndarray) -> None:
    """Write ``words`` and ``vectors`` to ``path`` in format ``fmt`` (see :data:`FORMATS`, or ``"fasttext"``)."""
    _write_file(path, format_name(fmt), words, vectors)


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


def read_vector_file(
    path: str | os.PathLike[str], fmt: str = "word2vec", *, encoding: str = "utf-8"
) -> tuple[list[str], np.ndarray]:
    """Read a word-vector file.

    Parameters
    ----------
    path : str or os.PathLike
        A local file.
    fmt : {"word2vec", "word2vec-binary", "glove", "fasttext"}, default "word2vec"
        word2vec text (``"V dim"`` header; fastText ``.vec`` files are this
        format), word2vec binary, or GloVe text (no header).
    encoding : str, default "utf-8"
        Encoding of the words.

    Returns
    -------
    words : list of str
        In file order (word2vec and GloVe files list the most frequent first).
    vectors : numpy.ndarray
        ``(len(words), dim)`` float32.

    Raises
    ------
    VectorFileError
        A line with the wrong number of values or a value that is not a
        number, a header that disagrees with the file, a truncated binary
        file, words that do not decode with ``encoding``, or no vector at all.
    """
    fmt = format_name(fmt)
    with open(path, "rb") as fh:
        data = fh.read()
    if fmt == "word2vec-binary":
        return _read_binary(data, str(path), encoding)
    return _read_text(data, str(path), encoding, header=fmt == "word2vec")


def _header(line: bytes, where: str, fmt: str) -> tuple[int, int]:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        other = "glove" if fmt == "word2vec" else "word2vec"
        raise VectorFileError(
            f"{where}: the first line should be the header 'VOCAB_SIZE DIM', got {line[:80]!r}; "
            f"if the file has no header, read it as format={other!r}"
        )
    return int(parts[0]), int(parts[1])


def _decode(raw: bytes, where: str, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise VectorFileError(
            f"{where}: the word {raw[:40]!r} is not valid {encoding} ({exc.reason}); pass the file's "
            "encoding (e.g. encoding='latin-1') or re-save the file as UTF-8"
        ) from None


def _read_text(data: bytes, path: str, encoding: str, *, header: bool) -> tuple[list[str], np.ndarray]:
    lines = data.splitlines()
    start, rows, dim = 0, None, None
    if header:
        if not lines:
            raise VectorFileError(f"{path}: the file is empty")
        rows, dim = _header(lines[0], f"{path} line 1", "word2vec")
        start = 1
    words: list[str] = []
    values: list[np.ndarray] = []
    for n, line in enumerate(lines[start:], start=start + 1):
        parts = line.rstrip().split(b" ")
        if parts == [b""]:
            continue  # blank line
        where = f"{path} line {n}"
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise VectorFileError(
                f"{where}: {len(parts) - 1} values after the word {parts[0][:40]!r}, expected {dim} "
                f"({'the header' if header else 'the first line'}'s dimension); the line is cut short or the "
                "word contains a space: fix or delete that line"
            )
        try:
            values.append(np.array(parts[1:], dtype=np.float32))
        except ValueError:
            raise VectorFileError(
                f"{where}: a value after the word {parts[0][:40]!r} is not a number; fix or delete that line"
            ) from None
        words.append(_decode(parts[0], where, encoding))
    if rows is not None and rows != len(words):
        raise VectorFileError(
            f"{path}: the header says {rows} vectors, the file has {len(words)}; "
            + ("it is truncated: copy it again" if len(words) < rows else "fix the header's count")
        )
    if not words or not dim:
        raise VectorFileError(f"{path}: no vectors found; is it a word-vector file?")
    return words, np.vstack(values)


def _read_binary(data: bytes, path: str, encoding: str) -> tuple[list[str], np.ndarray]:
    end = data.find(b"\n")
    if end < 0:
        raise VectorFileError(f"{path}: no header line; is it a word2vec binary file?")
    rows, dim = _header(data[:end], f"{path} header", "word2vec-binary")
    if dim == 0:
        raise VectorFileError(f"{path}: the header says dimension 0")
    words: list[str] = []
    matrix = np.empty((rows, dim), dtype=np.float32)
    size = 4 * dim
    pos = end + 1
    for k in range(rows):
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b" "):
            pos += 1  # the newline that ends the previous record
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + size > len(data):
            raise VectorFileError(
                f"{path}: truncated after {k} of the {rows} vectors the header announces; copy the file again "
                "(or, if it is a text file, read it as format='word2vec')"
            )
        words.append(_decode(data[pos:space], f"{path} vector {k + 1}", encoding))
        matrix[k] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + size
    if data[pos:].strip():
        raise VectorFileError(
            f"{path}: {len(data) - pos} bytes follow the {rows} vectors the header announces; "
            "the header's count is wrong or the file is not word2vec binary"
        )
    return words, matrix
