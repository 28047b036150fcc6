"""Document vectors from word vectors: what the Spark ML models' ``transform`` computes per batch.

Pure functions of Arrow and numpy arrays (no Spark), run on the executors
inside a pandas UDF: the tokens are looked up with one Arrow ``index_in``
and summed with numpy, never with a Python loop per word.

``mean`` is Spark MLlib's ``Word2VecModel.transform``: the sum of the
vectors of the known words divided by the number of *all* tokens (an
unknown word counts as a zero vector), so features match MLlib's on the
same vectors. ``sif`` weights each known word by a / (a + p(w)), p(w) its
share of the vocabulary's counts (Arora, Liang and Ma 2017, "A simple but
tough-to-beat baseline for sentence embeddings", without their removal of
the first principal component, which would need a pass over a corpus).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedpipe.kernels import sentences

__all__ = ["SIF_A", "Weighting", "document_vectors", "sif_weights"]

Weighting = Literal["mean", "sif"]
#: SIF's smoothing constant, the paper's default.
SIF_A = 1e-3


def sif_weights(counts: np.ndarray, a: float = SIF_A) -> np.ndarray:
    """Each word's SIF weight a / (a + p(w)), p(w) = count / total count.

    Raises
    ------
    ValueError
        The counts are all zero (vectors read from a file carry none).
    """
    if float(np.sum(counts)) <= 0:
        raise ValueError(
            "SIF weights need the words' counts, and these vectors carry none (vectors read from a file); "
            "use docVector='mean', or vectors trained by embedpipe"
        )
    return sentences.sif_weights(counts, a)


def document_vectors(
    docs: pa.Array | pa.ChunkedArray, words: pa.Array, matrix: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """One vector per document: the (weighted) sum of its known words' vectors over its token count.

    Parameters
    ----------
    docs : pyarrow list<string> array
        The documents' tokens. A null document, or one without tokens, gives
        the zero vector; a null token counts as an unknown word.
    words : pyarrow string array
        The vocabulary; ``matrix[k]`` is the vector of ``words[k]``. Tokens
        match exactly, as in MLlib.
    matrix : numpy.ndarray
        ``(len(words), dim)`` word vectors.
    weights : numpy.ndarray, optional
        A weight per word (:func:`sif_weights`); None is MLlib's plain mean.

    Returns
    -------
    numpy.ndarray
        ``(len(docs), dim)`` float64.
    """
    if isinstance(docs, pa.ChunkedArray):
        docs = docs.combine_chunks() if docs.num_chunks != 1 else docs.chunk(0)
    n, dim = len(docs), matrix.shape[1]
    out = np.zeros((n, dim), dtype=np.float64)
    if n == 0:
        return out
    lengths = pc.fill_null(pc.list_value_length(docs), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(docs)  # a null document contributes no tokens
    rows = pc.index_in(flat.cast(words.type), value_set=words)
    known = rows.is_valid().to_numpy(zero_copy_only=False)
    row = rows.filter(rows.is_valid()).to_numpy(zero_copy_only=False).astype(np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)[known]
    vecs = matrix[row].astype(np.float64)
    if weights is not None:
        vecs *= weights[row, None]
    # In token order, as MLlib adds them; then times 1/count, as MLlib scales.
    np.add.at(out, doc, vecs)
    has = lengths > 0
    out[has] *= (1.0 / lengths[has])[:, None]
    return out
