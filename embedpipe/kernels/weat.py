"""Bias measures of word vectors: WEAT and a definitional direction.

Pure functions over numpy arrays (numpy + numba only).

WEAT (Caliskan, Bryson and Narayanan 2017, "Semantics derived automatically
from language corpora contain human-like biases", Science 356:183-186) asks
whether two target sets X, Y (flowers, insects) differ in their association
with two attribute sets A, B (pleasant, unpleasant):

* ``s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)``;
* effect size ``(mean_x s(x) - mean_y s(y)) / std_{w in X ∪ Y} s(w)``, with
  the sample standard deviation (``ddof=1``);
* one-sided permutation p-value: the share of the equal-size partitions
  ``(X_i, Y_i)`` of ``X ∪ Y`` whose statistic ``sum s(X_i) - sum s(Y_i)`` is
  at least the observed one. Every partition is enumerated when there are
  few; otherwise a seeded sample is drawn and ``(hits + 1) / (samples + 1)``
  is returned. Both count the observed partition, so p is never 0.

The direction (Bolukbasi et al. 2016, "Man is to Computer Programmer as
Woman is to Homemaker?") is the first principal component of definitional
pairs (she/he, woman/man ...) centred on each pair's mean.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["associations", "definitional_direction", "effect_size", "neutralize", "p_value"]

# Random partitions drawn at a time by the sampled p-value.
_SAMPLE_BATCH = 8192


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D (words x dim) array, got shape {m.shape}")
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def associations(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(w, A, B)`` of each row of ``w``: mean cosine with ``a``'s rows minus that with ``b``'s (float64)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"both attribute sets need words, got {len(a)} and {len(b)}")
    wu = _unit(w)
    return (wu @ _unit(a).T).mean(axis=1) - (wu @ _unit(b).T).mean(axis=1)


def effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """WEAT's effect size of targets ``x``, ``y`` and attributes ``a``, ``b`` (rows: word vectors).

    Raises
    ------
    ValueError
        A set is empty, or the targets have fewer than 2 words between them.
    """
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"both target sets need words, got {len(x)} and {len(y)}")
    sx, sy = associations(x, a, b), associations(y, a, b)
    spread = np.concatenate([sx, sy]).std(ddof=1)
    return float((sx.mean() - sy.mean()) / spread) if spread > 0 else 0.0


@numba.njit(cache=True)
def _exact_hits(s: np.ndarray, m: int, observed: float) -> tuple[int, int]:  # pragma: no cover - compiled
    """(partitions whose first part sums to >= observed, partitions), over every m-subset of s."""
    n = s.shape[0]
    idx = np.arange(m)
    hits = 0
    total = 0
    while True:
        acc = 0.0
        for i in range(m):
            acc += s[idx[i]]
        total += 1
        if acc >= observed:
            hits += 1
        i = m - 1
        while i >= 0 and idx[i] == n - m + i:
            i -= 1
        if i < 0:
            break
        idx[i] += 1
        for j in range(i + 1, m):
            idx[j] = idx[j - 1] + 1
    return hits, total


def p_value(
    sx: np.ndarray, sy: np.ndarray, *, exact_max: int = 1_000_000, samples: int = 100_000, seed: int = 1
) -> tuple[float, bool]:
    """One-sided permutation p-value of WEAT's statistic, from the targets' associations.

    Parameters
    ----------
    sx, sy : numpy.ndarray
        :func:`associations` of the X and Y target words.
    exact_max : int
        Enumerate every partition when there are at most this many.
    samples : int
        Partitions drawn otherwise.
    seed : int
        Seed of the draw: the same seed gives the same p-value.

    Returns
    -------
    (float, bool)
        The p-value, and whether it is exact.
    """
    s = np.concatenate([np.asarray(sx, dtype=np.float64), np.asarray(sy, dtype=np.float64)])
    m, n = len(sx), len(s)
    if m == 0 or m == n:
        raise ValueError(f"both target sets need words, got {m} and {n - m}")
    # The statistic sum s(X_i) - sum s(Y_i) = 2 sum s(X_i) - sum s grows with sum s(X_i): compare those.
    # The tolerance keeps a partition that equals the observed one, summed in another order, counted.
    observed = float(s[:m].sum()) - 1e-12 * (float(np.abs(s).sum()) + 1.0)
    if math.comb(n, m) <= exact_max:
        hits, total = _exact_hits(s, m, observed)
        return hits / total, True
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, samples, _SAMPLE_BATCH):
        b = min(_SAMPLE_BATCH, samples - start)
        pick = np.argpartition(rng.random((b, n)), m, axis=1)[:, :m]
        hits += int((s[pick].sum(axis=1) >= observed).sum())
    return (hits + 1) / (samples + 1), False


def definitional_direction(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """The first principal component of definitional pairs ``(a[i], b[i])``, and its share of the variance.

    Each pair is centred on its own mean (Bolukbasi et al. 2016); the
    direction is oriented so that ``a`` words project positively on average.
    Vectors are made unit-length first.

    Returns
    -------
    (numpy.ndarray, float)
        A unit float64 vector, and the first component's share of the pairs' variance.
    """
    au, bu = _unit(a), _unit(b)
    if au.shape != bu.shape or len(au) == 0:
        raise ValueError(f"definitional pairs need two (pairs, dim) arrays of one shape, got {au.shape} and {bu.shape}")
    centre = (au + bu) / 2
    rows = np.vstack([au - centre, bu - centre])
    _, sv, vt = np.linalg.svd(rows, full_matrices=False)
    g = vt[0]
    if float(((au - bu) @ g).mean()) < 0:
        g = -g
    total = float((sv**2).sum())
    return g, (float(sv[0] ** 2) / total if total > 0 else 0.0)


def neutralize(rows: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Unit rows with no component along ``direction`` (Bolukbasi et al.'s "neutralize"), float32.

    A row along the direction alone becomes zero.
    """
    u = _unit(rows)
    g = np.asarray(direction, dtype=np.float64)
    g = g / np.linalg.norm(g)
    return _unit(u - np.outer(u @ g, g)).astype(np.float32)
