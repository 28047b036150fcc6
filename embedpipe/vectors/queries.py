"""Queries on a matrix of word vectors: nearest neighbours and analogies.

Words are matched lower-cased; when several vocabulary entries lower-case to
the same string, the first (most frequent) one answers. An unknown word
raises :class:`~embedpipe.errors.UnknownWordError` with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

import numpy as np

from embedpipe.errors import UnknownWordError
from embedpipe.kernels.similarity import normalize_rows, top_k, top_k_scores

__all__ = ["GENSIM_COSMUL_EPS", "analogy", "check_matrix", "lower_index", "neighbors", "rank", "resolve_restrict"]

# Words offered as "did you mean" for an unknown word: the most frequent ones.
SUGGEST_TOP = 30000

#: The 3CosMul epsilon of gensim's ``most_similar_cosmul`` (the evaluation
#: uses Levy & Goldberg's 1e-3, :data:`embedpipe.kernels.similarity.COSMUL_EPS`).
GENSIM_COSMUL_EPS = 1e-6

Method = Literal["3cosadd", "3cosmul"]


def check_matrix(words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (vocab x dim) array, got shape {vectors.shape}")
    if len(words) != vectors.shape[0]:
        raise ValueError(
            f"words has {len(words)} entries but vectors has {vectors.shape[0]} rows; "
            "row k of vectors must be the vector of words[k]"
        )
    return vectors


def lower_index(words: Sequence[str], limit: int | None = None) -> dict[str, int]:
    """Map lower-cased word -> first (most frequent) row among ``words[:limit]``."""
    n = len(words) if limit is None else min(limit, len(words))
    index: dict[str, int] = {}
    for i in range(n):
        index.setdefault(words[i].lower(), i)
    return index


def resolve_restrict(restrict_vocab: int | None, n: int) -> int:
    if restrict_vocab is None:
        return n
    if restrict_vocab < 1:
        raise ValueError(f"restrict_vocab must be a positive number of most-frequent words, got {restrict_vocab}")
    return min(int(restrict_vocab), n)


def unknown_word_error(word: str, words: Sequence[str], where: str) -> UnknownWordError:
    pool = list(dict.fromkeys(w.lower() for w in words[:SUGGEST_TOP]))
    match = difflib.get_close_matches(word.lower(), pool, n=1)
    hint = (
        f"did you mean {match[0]!r}?"
        if match
        else "if it is a real corpus word, lower vocab.min_count and rebuild the vocabulary"
    )
    return UnknownWordError(word, f"word {word!r} is not in {where}; {hint}")


def _lookup(word: str, words: Sequence[str], index: dict[str, int], where: str) -> int:
    i = index.get(word.lower())
    if i is None:
        raise unknown_word_error(word, words, where)
    return i


def neighbors(
    words: Sequence[str],
    vectors: np.ndarray,
    word: str,
    k: int = 10,
    *,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``word``.

    Parameters
    ----------
    words, vectors
        Vocabulary (descending frequency) and its vectors.
    word : str
        Query word (matched lower-cased).
    k : int, default 10
        Number of neighbours.
    restrict_vocab : int, optional
        Only search the ``restrict_vocab`` most frequent words (default: all).

    Returns
    -------
    list of (str, float)
        ``(neighbour, cosine)``, best first; the query word is excluded.

    Raises
    ------
    UnknownWordError
        If ``word`` is not in the vocabulary.
    """
    vectors = check_matrix(words, vectors)
    rv = resolve_restrict(restrict_vocab, len(words))
    i = _lookup(word, words, lower_index(words), f"the vocabulary ({len(words)} words)")
    idx, sims = rank(normalize_rows(vectors[:rv]), [vectors[i]], [], k, exclude=[i])
    return [(words[j], float(s)) for j, s in zip(idx.tolist(), sims.tolist(), strict=True)]


def analogy(
    words: Sequence[str],
    vectors: np.ndarray,
    a: str,
    b: str,
    c: str,
    k: int = 1,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """Answer ``a : b :: c : ?`` by 3CosAdd.

    Parameters
    ----------
    words, vectors
        Vocabulary (descending frequency) and its vectors.
    a, b, c : str
        Query words (matched lower-cased), e.g. ``"man", "king", "woman"``.
    k : int, default 1
        Number of answers.
    restrict_vocab : int, optional
        Only the ``restrict_vocab`` most frequent words are candidate answers
        (default: all).  The query words themselves may come from the full
        vocabulary.

    Returns
    -------
    list of (str, float)
        ``(answer, cos(answer, b - a + c))`` with unit-normalised vectors, best
        first; ``a``, ``b`` and ``c`` are never returned.

    Raises
    ------
    UnknownWordError
        If one of ``a``, ``b``, ``c`` is not in the vocabulary.
    """
    vectors = check_matrix(words, vectors)
    rv = resolve_restrict(restrict_vocab, len(words))
    index = lower_index(words)
    where = f"the vocabulary ({len(words)} words)"
    ia, ib, ic = (_lookup(w, words, index, where) for w in (a, b, c))
    va, vb, vc = vectors[[ia, ib, ic]]
    idx, sims = rank(normalize_rows(vectors[:rv]), [vb, vc], [va], k, exclude=[ia, ib, ic])
    return [(words[j], float(s)) for j, s in zip(idx.tolist(), sims.tolist(), strict=True)]


def rank(
    unit: np.ndarray,
    positive: Sequence[np.ndarray],
    negative: Sequence[np.ndarray],
    k: int,
    *,
    exclude: Sequence[int] = (),
    method: Method = "3cosadd",
    eps: float = GENSIM_COSMUL_EPS,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``unit`` that best match ``positive`` minus ``negative``.

    The scores are those of gensim's ``KeyedVectors.most_similar`` (3CosAdd:
    cosine with the sum of the unit query vectors, positive ones added and
    negative ones subtracted) and ``most_similar_cosmul`` (3CosMul, Levy &
    Goldberg 2014: ``prod cos'(d, p) / (prod cos'(d, n) + eps)`` with
    ``cos' = (cos + 1) / 2``).

    Parameters
    ----------
    unit : numpy.ndarray
        ``(V, dim)`` unit-normalised candidate rows.
    positive, negative : sequence of numpy.ndarray
        ``(dim,)`` query vectors, normalised here.
    k : int
        Number of rows wanted.
    exclude : sequence of int, optional
        Rows never returned (the query words).
    method : {"3cosadd", "3cosmul"}, default "3cosadd"
    eps : float, default 1e-6
        3CosMul's epsilon (gensim's).

    Returns
    -------
    idx, scores : numpy.ndarray
        int64 rows, best first (ties to the lower row), and their float64 scores.

    Raises
    ------
    ValueError
        If there is no positive vector for 3CosMul, or none at all, or ``method`` is unknown.
    """
    if method not in ("3cosadd", "3cosmul"):
        raise ValueError(f"method must be '3cosadd' or '3cosmul', got {method!r}")
    if not len(positive) and (method == "3cosmul" or not len(negative)):
        raise ValueError("give at least one positive word (3CosMul needs one; 3CosAdd needs any word)")
    given = np.asarray([*positive, *negative], dtype=np.float64).reshape(len(positive) + len(negative), -1)
    queries = normalize_rows(given)
    pos, neg = queries[: len(positive)], queries[len(positive) :]
    if method == "3cosadd":
        return top_k(unit, pos.sum(axis=0, dtype=np.float64) - neg.sum(axis=0, dtype=np.float64), k, exclude=exclude)
    # Each query's cosines are computed in float32, as gensim does, and combined in float64.
    num = np.prod([(1.0 + (unit @ q).astype(np.float64)) / 2.0 for q in pos], axis=0)
    den = np.prod([(1.0 + (unit @ q).astype(np.float64)) / 2.0 for q in neg], axis=0) if len(neg) else 1.0
    return top_k_scores(num / (den + eps), k, exclude=exclude)
