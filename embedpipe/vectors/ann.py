"""An approximate nearest-neighbour index over a model's unit vectors (faiss HNSW).

:meth:`embedpipe.Vectors.build_index` builds one; ``most_similar`` and
``neighbors`` then use it. Every similarity it returns is the float32
cosine brute force computes, ordered as brute force orders them (ties to
the lower row): only which words make the top ``k`` can differ.

How far a query searches (HNSW's ``efSearch``) is not a fixed guess: the
build measures it. It scores a sample of words by brute force and takes the
smallest breadth whose recall@10 on that sample reaches ``target_recall``
(0.96 by default), so a larger or harder vocabulary gets a broader search
rather than a silently worse one (bench/results/2026-12-05-ann-calibrated/).
A query vector that is no word (an analogy's b - a + c) lies between words
and needs a broader search than a word's own: searched as broadly as the
words, it found 0.74 of its top 10 on wiki17m. So the build measures its
breadth too, on analogy vectors (``ef_search_vectors``; 96 there, for
0.961) (bench/results/2026-12-06-ann-ivf-index/).

A word's own neighbours are searched from the word's own node in the graph
(:meth:`AnnIndex.search_rows`): it is already where the search would end,
so the descent through the upper layers is skipped.

The graph stores its vectors cluster by cluster (:func:`locality_order`),
and a batch of words is searched in that order. A search reads a few
hundred vectors at scattered addresses, so it waits on memory far more
than it computes; with similar words side by side, one search finds what
it reads already in the cache, left there by the searches just before it.
The answers are the same; only the ids inside faiss change, and they are
mapped back.

Why faiss: on wiki17m's skip-gram vectors, faiss's HNSW, hnswlib and
usearch reach the same recall, faiss at least as fast in a batch; faiss
ships abi3 wheels for every CPython >= 3.10 on Linux, macOS and Windows,
where hnswlib's last release (0.8.0) is a source package that needs a C++
compiler to install, and usearch built its graph slowest (see the report).

faiss is optional: ``pip install 'embedpipe[ann]'``. Without it, building
an index raises :class:`~embedpipe.errors.AnnDependencyError` naming that command.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from embedpipe.errors import AnnDependencyError
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.kernels.topk import block_pair_lists, empty_lists, exact_neighbors, merge_lists

__all__ = [
    "EF_LADDER", "INSTALL_HINT", "ROWS_PER_CLUSTER", "AnnIndex", "analogy_sample", "locality_order", "query_batch",
    "ranked", "recall_at_k", "require_faiss",
]  # fmt: skip

INSTALL_HINT = "an approximate index needs faiss: pip install 'embedpipe[ann]' (or pip install faiss-cpu)"


log = logging.getLogger(__name__)

#: Search breadths the build tries, narrowest first, when it measures its own ``ef_search``.
EF_LADDER = (10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 256, 320, 384, 512, 768, 1024)
#: Words the build scores by brute force to measure recall: 1,000 words put the estimate within about 0.005.
CALIBRATION_WORDS = 1000
CALIBRATION_K = 10
#: Analogy vectors b - a + c for the query-vector breadth are drawn among this many first rows (a vocabulary's most
#: frequent words), as the evaluation's analogies are.
ANALOGY_ROWS = 30000
#: Mean rows per cluster of the storage order: a cluster's vectors (about 100 KB at dim 100) stay in a core's cache
#: while the searches of its words run.
ROWS_PER_CLUSTER = 256


def recall_at_k(exact: np.ndarray, found: np.ndarray) -> float:
    """Mean share of each row's exact ids (``-1`` slots ignored) that appear among its ``found`` ids."""
    exact = np.asarray(exact)
    found = np.asarray(found)
    real = exact >= 0
    if not real.any():
        return 1.0  # nothing to find (e.g. a vocabulary of the query words alone): none was missed
    hits = (exact[:, :, None] == found[:, None, :]).any(axis=2) & real
    return float(hits.sum() / max(int(real.sum()), 1))


def query_batch(queries: np.ndarray, dim: int, exclude: list[list[int]] | None) -> tuple[np.ndarray, np.ndarray]:
    """A search's query vectors as float32 unit rows (a zero query stays zero, scoring 0 everywhere), and
    the rows each excludes as one ``(n, widest)`` array padded with -2, which matches no row and no empty slot."""
    q = np.asarray(queries)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"queries must be (n, {dim}), got shape {q.shape}")
    width = max((len(e) for e in exclude), default=0) if exclude else 0
    excluded = np.full((len(q), width), -2, dtype=np.int64)
    for i, rows in enumerate(exclude or ()):
        excluded[i, : len(rows)] = rows
    return normalize_rows(q), excluded


def analogy_sample(unit: np.ndarray, n: int, k: int, seed: int) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """``n`` analogy query vectors b - a + c of seeded triples of rows, each triple, and brute force's top ``k``.

    The triples are drawn among the first :data:`ANALOGY_ROWS` rows; brute
    force's lists leave each query's three rows out, as ``most_similar`` does.
    A query vector lies between words, not on one, and an index searched as
    broadly as its words need finds less of such a vector's top ``k``
    (bench/results/2026-12-06-ann-ivf-index/): this sample measures how broadly to search them.
    """
    triples = np.random.default_rng(seed).choice(min(len(unit), ANALOGY_ROWS), size=(n, 3))
    q = normalize_rows(unit[triples[:, 1]].astype(np.float64) - unit[triples[:, 0]] + unit[triples[:, 2]])
    want = min(len(unit), k + 3)
    (ids, sims), _ = block_pair_lists(np.full(n, -1, np.int32), q, np.arange(len(unit), dtype=np.int32), unit, want,
                                      both=False)  # fmt: skip
    exact, _ = ranked(ids, sims, triples.astype(np.int64), k)
    return q, triples.tolist(), exact


def locality_order(unit: np.ndarray, *, seed: int = 0, rows_per_cluster: int = ROWS_PER_CLUSTER) -> np.ndarray:
    """The rows of ``unit`` in an order that keeps similar rows together: ``order[i]`` is the row stored at ``i``.

    Spherical k-means with about ``rows_per_cluster`` rows per cluster
    (faiss, trained on at most 256 rows a cluster); the clusters follow one
    another in a coarser clustering of their centroids, so neighbouring
    clusters also lie near each other, and within a cluster the rows keep
    their own order (the vocabulary's: frequent words first). Fewer than two
    clusters' worth of rows are left as they are.
    """
    faiss = require_faiss()
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    n = unit.shape[0]
    clusters = n // rows_per_cluster
    if clusters < 2:
        return np.arange(n, dtype=np.int64)
    centroids, cluster = _kmeans(faiss, unit, clusters, seed)
    # The clusters' own order: grouped by a coarser k-means of their centroids.
    groups = int(round(np.sqrt(clusters)))
    group = _kmeans(faiss, centroids, groups, seed)[1] if groups >= 2 else np.zeros(clusters, dtype=np.int64)
    position = np.empty(clusters, dtype=np.int64)
    position[np.lexsort((np.arange(clusters), group))] = np.arange(clusters)
    return np.argsort(position[cluster], kind="stable").astype(np.int64)


def _kmeans(faiss: Any, x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: the ``k`` unit centroids and each row's nearest."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    # min_points_per_centroid=1: grouping a few hundred centroids is meant to have few points a group, and
    # faiss would print a warning for it on every build.
    km = faiss.Kmeans(x.shape[1], k, niter=10, spherical=True, seed=seed, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return np.array(km.centroids, dtype=np.float32).reshape(k, -1), labels.reshape(-1).astype(np.int64)


def require_faiss() -> Any:
    """The faiss module, or :class:`AnnDependencyError` saying how to install it."""
    try:
        import faiss
    except ImportError as e:
        raise AnnDependencyError(f"{INSTALL_HINT} ({e})") from e
    return faiss


@dataclass
class AnnIndex:
    """An HNSW graph over unit rows, searched by inner product (= cosine).

    Build it with :meth:`build`. ``ef_search`` is the search's breadth:
    higher finds more of the true neighbours, more slowly. ``calibration``
    says how the build chose it (``None`` when it was given).
    """

    kind: ClassVar[str] = "hnsw"
    unit: np.ndarray  # (V, dim) float32 unit rows, the ones the graph holds
    connectivity: int
    ef_construction: int
    ef_search: int
    threads: int | None
    build_seconds: float
    _index: Any = field(repr=False)
    #: ``storage_order[i]`` is the row the graph stores at id ``i`` (:func:`locality_order`).
    storage_order: np.ndarray = field(repr=False)
    calibration: dict[str, Any] | None = None
    #: Breadth of a query vector's search (:meth:`search`): measured at build on analogy vectors
    #: (:func:`analogy_sample`), which need a broader search than words; ``None``: ``ef_search``.
    ef_search_vectors: int | None = None
    _stored_at: np.ndarray = field(init=False, repr=False)  # the inverse: a row's id in the graph

    def __post_init__(self) -> None:
        self._stored_at = np.empty_like(self.storage_order)
        self._stored_at[self.storage_order] = np.arange(len(self.storage_order), dtype=self.storage_order.dtype)

    @classmethod
    def build(
        cls,
        unit: np.ndarray,
        *,
        connectivity: int = 24,
        ef_construction: int = 400,
        ef_search: int | None = None,
        target_recall: float = 0.96,
        threads: int | None = None,
        seed: int = 0,
    ) -> AnnIndex:
        """Build the graph over ``unit`` (float32 unit rows).

        The graph is linked in the rows' order (a vocabulary's: frequent
        words first), then stored in :func:`locality_order`.

        Parameters
        ----------
        connectivity : int, default 24
            Links per node (HNSW's ``M``).
        ef_construction : int, default 400
            Breadth of the search that links each new node. With 24 links,
            the default graph reached recall@10 0.96-0.97 about 1.6x as fast
            as 16 links and 200 at 270,082 words, and no slower at 67,873,
            for about 1.5x the build time (bench/results/2026-12-05-ann-calibrated/).
        ef_search : int, optional
            Breadth of a query's search (at least the ``k`` asked for is
            used). Default: measured at build, the narrowest of
            :data:`EF_LADDER` whose recall@10 over a sample of 1,000 words
            reaches ``target_recall`` (the broadest, with a warning, if none does);
            and for query vectors (``ef_search_vectors``) the same over
            1,000 analogy vectors (:func:`analogy_sample`). A given
            ``ef_search`` serves both.
        target_recall : float, default 0.96
            The recall@10 the measured ``ef_search`` must reach on the sample;
            ignored when ``ef_search`` is given.
        threads : int, optional
            Threads of faiss (OpenMP) for building and batch queries; default all cores.
        seed : int, default 0
            Draws the sample of words the recall is measured on.

        Raises
        ------
        AnnDependencyError
            faiss is not installed.
        ValueError
            A setting is out of range.
        """
        faiss = require_faiss()
        for name, value in (("connectivity", connectivity), ("ef_construction", ef_construction),
                            ("ef_search", 1 if ef_search is None else ef_search)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 < target_recall <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be a positive integer or None (all cores), got {threads!r}")
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        if unit.ndim != 2 or unit.shape[0] == 0:
            raise ValueError(f"an index needs a non-empty (words, dim) matrix, got shape {unit.shape}")
        t0 = time.perf_counter()
        with _threads(faiss, threads):
            index = faiss.IndexHNSWFlat(unit.shape[1], connectivity, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            # Linked in the vocabulary's order (frequent words first), then stored cluster by cluster.
            index.add(unit)
            order = locality_order(unit, seed=seed)
            index.permute_entries(order)
        built = cls(unit, connectivity, ef_construction, ef_search or EF_LADDER[0], threads, 0.0, index, order)
        if ef_search is None:
            built.calibration = built._calibrate(target_recall, seed)
        built.build_seconds = time.perf_counter() - t0
        return built

    def _calibrate(self, target: float, seed: int) -> dict[str, Any]:
        """Set ``ef_search`` to the narrowest breadth whose recall@10 on a sample reaches ``target``."""
        t0 = time.perf_counter()
        n = min(CALIBRATION_WORDS, len(self))
        k = min(CALIBRATION_K, len(self) - 1)
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        measured = 1.0
        if k >= 1:
            exact, _ = exact_neighbors(self.unit, rows, k)
            for ef in EF_LADDER:
                self.ef_search = ef
                found, _ = self.search_rows(rows, k)
                measured = recall_at_k(exact, found)
                if measured >= target:
                    break
        reached = measured >= target
        if not reached:
            log.warning(
                "the index reaches recall@10 %.3f at most (ef_search %d), short of target_recall %.3f: "
                "build it with a larger connectivity or ef_construction, or query with exact=True",
                measured, self.ef_search, target,
            )  # fmt: skip
        vectors = self._calibrate_vectors(target, seed, n, k) if k >= 1 else None
        return {"target_recall": target, "reached": reached, "sample_words": n, "sample_recall@10": round(measured, 4),
                "ef_search": self.ef_search, "vectors": vectors,
                "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip

    def _calibrate_vectors(self, target: float, seed: int, n: int, k: int) -> dict[str, Any]:
        """Set ``ef_search_vectors`` to the narrowest breadth whose recall@10 on analogy vectors reaches ``target``."""
        queries, exclude, exact = analogy_sample(self.unit, n, k, seed)
        measured = 1.0
        for ef in EF_LADDER:
            self.ef_search_vectors = ef
            found, _ = self.search(queries, k, exclude=exclude)
            measured = recall_at_k(exact, found)
            if measured >= target:
                break
        if measured < target:
            log.warning("query vectors reach recall@10 %.3f at most (ef_search %d), short of target_recall %.3f: "
                        "query with exact=True", measured, self.ef_search_vectors, target)  # fmt: skip
        return {"sample_queries": n, "sample_recall@10": round(measured, 4), "ef_search": self.ef_search_vectors}

    def __len__(self) -> int:
        return int(self.unit.shape[0])

    def describe(self) -> dict[str, Any]:
        """The index's settings, as the bench reports them."""
        import faiss

        return {
            "library": f"faiss {faiss.__version__}",
            "kind": "HNSW, inner product",
            "connectivity": self.connectivity,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "ef_search_vectors": self.ef_search_vectors,
            "calibration": self.calibration,
            "build_seconds": round(self.build_seconds, 2),
        }

    def search(
        self, queries: np.ndarray, k: int, *, exclude: list[list[int]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each query vector, by cosine among the index's candidates.

        Searched as broadly as ``ef_search_vectors`` (else ``ef_search``).

        Parameters
        ----------
        queries : numpy.ndarray
            ``(n, dim)`` query vectors (normalised here; a zero query scores 0 everywhere).
        k : int
        exclude : list of list of int, optional
            Per query, rows never returned (e.g. the query words).

        Returns
        -------
        ids, sims : numpy.ndarray
            ``(n, k)`` int64 rows (-1 where fewer were found) and float32 cosines
            (-inf there), best first, ties to the lower row.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q, excluded = query_batch(queries, self.unit.shape[1], exclude)
        want = min(len(self), k + excluded.shape[1])
        faiss = require_faiss()
        with _threads(faiss, self.threads):
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search_vectors or self.ef_search, want)
            sims, found = self._index.search(q, want, params=params)
        return ranked(self._rows_of(found), sims, excluded, k)

    def search_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each of the index's own ``rows``, the row itself excluded.

        What :meth:`search` answers for ``unit[rows]`` excluding each row, but
        each search starts at the row's own node on the graph's bottom layer
        instead of descending from the top: the word is already where the
        search would arrive.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"rows must lie in [0, {len(self)}), got {rows.min()}..{rows.max()}")
        # In storage order, so that each search finds the vectors of the one before it still in the cache.
        stored = self._stored_at[rows]
        order = np.argsort(stored, kind="stable")
        q = np.ascontiguousarray(self.unit[rows[order]])
        want = min(len(self), k + 1)
        entry = np.ascontiguousarray(stored[order].astype(np.int32).reshape(-1, 1))
        # faiss searches inner product as a distance of -cosine: the entry's is minus its own length squared.
        entry_distance = np.ascontiguousarray(-np.einsum("nd,nd->n", q, q).reshape(-1, 1), dtype=np.float32)
        distances = np.empty((len(rows), want), dtype=np.float32)
        found = np.full((len(rows), want), -1, dtype=np.int64)
        faiss = require_faiss()
        with _threads(faiss, self.threads):
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, want)
            self._index.search_level_0(
                len(rows), faiss.swig_ptr(q), want, faiss.swig_ptr(entry), faiss.swig_ptr(entry_distance),
                faiss.swig_ptr(distances), faiss.swig_ptr(found), 1, 1, params,
            )  # fmt: skip
        in_order = np.empty_like(found)
        in_order[order] = self._rows_of(found)
        sims = np.empty_like(distances)
        sims[order] = distances
        return ranked(in_order, sims, rows.reshape(-1, 1), k)

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The rows of the graph's ``ids`` (``-1``, faiss's empty slot, stays)."""
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(ids >= 0, self.storage_order[np.maximum(ids, 0)], -1)


def ranked(found: np.ndarray, sims: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``found`` (cosines ``sims``) without the ``excluded`` rows, ordered as brute force orders them.

    An index returns its candidates best first but may break ties its own
    way; brute force breaks them to the lower row. Offered to the same
    running top-k lists brute force fills, they come out in brute force's order.
    """
    found = np.array(found, dtype=np.int32)
    if excluded.shape[1]:
        found[(found[:, :, None] == excluded[:, None, :]).any(axis=2)] = -1
    ids, best = empty_lists(found.shape[0], k)
    merge_lists(ids, best, found, sims)
    return ids.astype(np.int64), best


class _threads:
    """faiss's OpenMP threads set for a block and put back (faiss's setting is process-wide)."""

    def __init__(self, faiss: Any, threads: int | None) -> None:
        self.faiss, self.threads, self.before = faiss, threads, None

    def __enter__(self) -> None:
        if self.threads is not None:
            self.before = self.faiss.omp_get_max_threads()
            self.faiss.omp_set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            self.faiss.omp_set_num_threads(self.before)
