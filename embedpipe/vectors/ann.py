"""An approximate nearest-neighbour index over a model's unit vectors (faiss HNSW).

:meth:`embedpipe.Vectors.build_index` builds one; ``most_similar`` and
``neighbors`` then use it. The index proposes candidates and their cosines
are computed again from the vectors, so every similarity it returns is
exact and ordered as brute force orders it (ties to the lower row): only
which words make the top ``k`` can differ, about 1 in 100 on wiki17m
(bench/results/2026-12-03-ann/).

Why faiss: on wiki17m's skip-gram vectors, faiss's HNSW, hnswlib and
usearch reach the same recall, faiss at least as fast in a batch; faiss
ships abi3 wheels for every CPython >= 3.10 on Linux, macOS and Windows,
where hnswlib's last release (0.8.0) is a source package that needs a C++
compiler to install, and usearch built its graph slowest (see the report).

faiss is optional: ``pip install 'embedpipe[ann]'``. Without it, building
an index raises :class:`~embedpipe.errors.AnnDependencyError` naming that command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedpipe.errors import AnnDependencyError

__all__ = ["INSTALL_HINT", "AnnIndex", "require_faiss"]

INSTALL_HINT = "an approximate index needs faiss: pip install 'embedpipe[ann]' (or pip install faiss-cpu)"


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
    higher finds more of the true neighbours, more slowly.
    """

    unit: np.ndarray  # (V, dim) float32 unit rows, the ones the graph holds
    connectivity: int
    ef_construction: int
    ef_search: int
    threads: int | None
    build_seconds: float
    _index: Any = field(repr=False)

    @classmethod
    def build(
        cls,
        unit: np.ndarray,
        *,
        connectivity: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
        threads: int | None = None,
    ) -> AnnIndex:
        """Build the graph over ``unit`` (float32 unit rows).

        Parameters
        ----------
        connectivity : int, default 32
            Links per node (HNSW's ``M``).
        ef_construction : int, default 200
            Breadth of the search that links each new node.
        ef_search : int, default 64
            Breadth of a query's search; at least the ``k`` asked for is used.
        threads : int, optional
            Threads of faiss (OpenMP) for building and batch queries; default all cores.

        Raises
        ------
        AnnDependencyError
            faiss is not installed.
        ValueError
            A setting is out of range.
        """
        faiss = require_faiss()
        for name, value in (("connectivity", connectivity), ("ef_construction", ef_construction),
                            ("ef_search", ef_search)):  # fmt: skip
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be a positive integer or None (all cores), got {threads!r}")
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        if unit.ndim != 2 or unit.shape[0] == 0:
            raise ValueError(f"an index needs a non-empty (words, dim) matrix, got shape {unit.shape}")
        t0 = time.perf_counter()
        with _threads(faiss, threads):
            index = faiss.IndexHNSWFlat(unit.shape[1], connectivity, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.add(unit)
        return cls(unit, connectivity, ef_construction, ef_search, threads, time.perf_counter() - t0, index)

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
            "build_seconds": round(self.build_seconds, 2),
        }

    def search(
        self, queries: np.ndarray, k: int, *, exclude: list[list[int]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each query vector, by exact cosine among the index's candidates.

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
            ``(n, k)`` int64 rows (-1 where fewer were found) and float64 cosines
            (-inf there), best first, ties to the lower row.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = np.asarray(queries, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != self.unit.shape[1]:
            raise ValueError(f"queries must be (n, {self.unit.shape[1]}), got shape {q.shape}")
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.ascontiguousarray(np.divide(q, norms, out=np.zeros_like(q), where=norms > 0), dtype=np.float32)
        extra = max((len(e) for e in exclude), default=0) if exclude else 0
        want = min(len(self), k + extra)
        faiss = require_faiss()
        with _threads(faiss, self.threads):
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, want)
            _, found = self._index.search(q, want, params=params)
        found = found.astype(np.int64)
        if exclude:
            for i, rows in enumerate(exclude):
                if rows:
                    found[i, np.isin(found[i], rows)] = -1
        # The index's scores are float32 inner products in its own order; score the candidates again.
        safe = np.where(found >= 0, found, 0)
        sims = np.einsum("nkd,nd->nk", self.unit[safe].astype(np.float64), q.astype(np.float64))
        sims[found < 0] = -np.inf
        order = np.lexsort((np.where(found >= 0, found, np.iinfo(np.int64).max), -sims), axis=1)[:, :k]
        ids = np.take_along_axis(found, order, axis=1)
        out_sims = np.take_along_axis(sims, order, axis=1)
        if ids.shape[1] < k:  # fewer rows than k in the whole index
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            out_sims = np.pad(out_sims, ((0, 0), (0, pad)), constant_values=-np.inf)
        return ids, out_sims


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
