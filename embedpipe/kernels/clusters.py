"""Cluster centroids and each cluster's most central words, by cosine.

Pure functions over numpy arrays (no pyspark, no I/O, no config). ``embedpipe
plot`` clusters a model's words with Spark ML's k-means (cosine distance) and
lists, for each cluster, the words nearest its centroid:

* :func:`centroids` is each cluster's centroid as its assignment defines it:
  the unit-length mean of its members' unit vectors (spherical k-means'
  centroid, the one Spark's cosine k-means moves to each iteration). It is
  computed from the labels, not taken from the fitted model, so the listed
  words follow from the ``clusters`` table alone, converged or not.
* :func:`central_rows` is, for each cluster, its members in decreasing cosine
  with that centroid (ties to the lower, more frequent, row).
"""

from __future__ import annotations

import numpy as np

__all__ = ["central_rows", "centroids"]


def centroids(unit: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The unit-length mean of each cluster's rows.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(n, dim)`` unit-length rows.
    labels : numpy.ndarray
        ``(n,)`` cluster of each row in ``0..k-1``, or ``-1`` for a row in no
        cluster (a zero vector), which is left out.
    k : int
        Number of clusters.

    Returns
    -------
    numpy.ndarray
        ``(k, dim)`` float64; an empty cluster's row is zero.
    """
    labels = np.asarray(labels)
    if labels.shape != (unit.shape[0],):
        raise ValueError(f"{labels.shape[0]} labels for {unit.shape[0]} rows")
    if labels.size and (labels.max() >= k or labels.min() < -1):
        raise ValueError(f"labels must be in 0..{k - 1} (or -1), got {labels.min()}..{labels.max()}")
    member = labels >= 0
    sums = np.zeros((k, unit.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[member], unit[member].astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def central_rows(unit: np.ndarray, labels: np.ndarray, centres: np.ndarray, top: int) -> list[np.ndarray]:
    """Each cluster's ``top`` member rows nearest its centre by cosine, nearest first.

    Parameters
    ----------
    unit : numpy.ndarray
        ``(n, dim)`` unit-length rows.
    labels : numpy.ndarray
        ``(n,)`` cluster of each row (``-1``: none).
    centres : numpy.ndarray
        ``(k, dim)`` unit-length centres (:func:`centroids`).
    top : int
        Rows listed per cluster.

    Returns
    -------
    list of numpy.ndarray
        ``k`` arrays of row indices (int64), each at most ``top`` long.
    """
    labels = np.asarray(labels)
    out = []
    for c in range(centres.shape[0]):
        members = np.flatnonzero(labels == c)
        cos = unit[members].astype(np.float64) @ centres[c]
        # lexsort: the last key is the primary one; rows break ties, lower (more frequent) first.
        order = np.lexsort((members, -cos))[:top]
        out.append(members[order].astype(np.int64))
    return out
