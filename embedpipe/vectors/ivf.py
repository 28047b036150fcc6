"""An inverted-file index over a model's unit vectors: the batch index.

:meth:`embedpipe.Vectors.build_index` with ``kind="ivf"`` builds one. The
unit rows are clustered by spherical k-means into
:data:`LISTS_PER_ROOT` × √V lists; a query is scored, exactly, against the
rows of the ``probes`` lists whose centroids are nearest it, and nowhere
else. So, as with the HNSW graph (:mod:`embedpipe.vectors.ann`), every
similarity it returns is the float32 cosine and the order is brute force's
(ties to the lower row): only which words make the top ``k`` can differ.

Why a second index: a batch of words is scored list by list, each list's
rows staying in the cache for every query that probes it, where a graph's
search hops to scattered rows. On wiki17m's vectors it was the faster of
the two for a batch of 10,000 words at the same recall
(bench/results/2026-12-06-ann-ivf-index/). It needs no faiss: the
clustering and the scan are numpy and numba
(:mod:`embedpipe.kernels.ivf`).

As with the graph's ``ef_search``, the number of probed lists is measured at
build: the fewest of :data:`PROBE_LADDER` whose recall@10 on a sample of
1,000 words reaches ``target_recall``. Each word's own probes are ranked
at build and kept (``search_rows`` starts where a word's search would
start, as the graph's does from the word's node); a query vector's are
ranked at each search.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from embedpipe.kernels.ivf import nearest_lists, scan_lists, spherical_kmeans
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import CALIBRATION_K, CALIBRATION_WORDS, analogy_sample, query_batch, ranked, recall_at_k

__all__ = ["LISTS_PER_ROOT", "PROBE_LADDER", "InvertedFileIndex"]

log = logging.getLogger(__name__)

#: Probed lists the build tries, fewest first, when it measures its own ``probes``.
PROBE_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192,
                256, 320, 384, 512, 768, 1024)  # fmt: skip
#: Lists per square root of the vocabulary by default (4,168 lists at 67,873 words). Of 512 to 8,192 lists on
#: wiki17m's vectors, more lists searched faster at the same recall, and the build's k-means, which grows with
#: words times lists, slower (bench/results/2026-12-06-ann-ivf-index/).
LISTS_PER_ROOT = 16
#: k-means iterations of the build.
KMEANS_ITERATIONS = 10


@dataclass
class InvertedFileIndex:
    """Unit rows filed under their nearest of ``lists`` centroids; a query scans its ``probes`` nearest lists.

    Build it with :meth:`build`. ``probes`` is the search's breadth: more
    finds more of the true neighbours, more slowly. ``calibration`` says how
    the build chose it (``None`` when it was given).
    """

    kind: ClassVar[str] = "ivf"
    unit: np.ndarray  # (V, dim) float32 unit rows
    lists: int
    probes: int
    threads: int
    build_seconds: float
    centroids: np.ndarray = field(repr=False)  # (lists, dim) float32 unit centroids
    #: ``stored_ids[i]`` is the row stored at ``stored[i]``; list ``c`` is ``stored[offsets[c]:offsets[c + 1]]``.
    stored_ids: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)
    stored: np.ndarray = field(repr=False)  # (V, dim) float32, the unit rows list after list
    calibration: dict[str, Any] | None = None
    #: Lists a query vector's search (:meth:`search`) probes: measured at build on analogy vectors
    #: (:func:`embedpipe.vectors.ann.analogy_sample`), which need more than words; ``None``: ``probes``.
    probes_vectors: int | None = None
    #: Each row's nearest lists, best first, as many as ``probes`` was at build.
    _word_probes: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        unit: np.ndarray,
        *,
        lists: int | None = None,
        probes: int | None = None,
        target_recall: float = 0.96,
        threads: int | None = None,
        seed: int = 0,
    ) -> InvertedFileIndex:
        """Cluster ``unit`` (float32 unit rows) and file each row under its nearest centroid.

        Parameters
        ----------
        lists : int, optional
            Number of lists (k-means clusters). Default:
            :data:`LISTS_PER_ROOT` times the square root of the rows, at most one a row.
        probes : int, optional
            Lists each query scans. Default: measured at build, the fewest of
            :data:`PROBE_LADDER` whose recall@10 over a sample of 1,000 words
            reaches ``target_recall`` (the widest, with a warning, if none does; every list, which
            is brute force, when there are no more lists than the ladder's widest);
            and for query vectors (``probes_vectors``) the same over 1,000
            analogy vectors. A given ``probes`` serves both. Raising it after
            the build ranks each word's lists again at every search.
        target_recall : float, default 0.96
            The recall@10 the measured ``probes`` must reach on the sample; ignored when ``probes`` is given.
        threads : int, optional
            Threads of a batch search; default all cores.
        seed : int, default 0
            Seeds the k-means start and draws the calibration sample.

        Raises
        ------
        ValueError
            A setting is out of range.
        """
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        if unit.ndim != 2 or unit.shape[0] == 0:
            raise ValueError(f"an index needs a non-empty (words, dim) matrix, got shape {unit.shape}")
        n = unit.shape[0]
        if lists is None:
            lists = min(n, max(1, round(LISTS_PER_ROOT * np.sqrt(n))))
        for name, value in (("lists", lists), ("probes", 1 if probes is None else probes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if lists > n:
            raise ValueError(f"lists must be at most the {n} words, got {lists}")
        if not 0.0 < target_recall <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be a positive integer or None (all cores), got {threads!r}")
        t0 = time.perf_counter()
        centroids, labels = spherical_kmeans(unit, lists, iterations=KMEANS_ITERATIONS, seed=seed)
        order = np.argsort(labels, kind="stable")  # list after list, each in the vocabulary's order
        offsets = np.zeros(lists + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(np.bincount(labels, minlength=lists))
        built = cls(
            unit=unit, lists=lists, probes=min(probes or 1, lists), threads=threads or os.cpu_count() or 1,
            build_seconds=0.0, centroids=centroids, stored_ids=order.astype(np.int32), offsets=offsets,
            stored=np.ascontiguousarray(unit[order]),
        )  # fmt: skip
        if probes is None:
            built.calibration = built._calibrate(target_recall, seed)
        built._word_probes = nearest_lists(unit, centroids, built.probes)
        built.build_seconds = time.perf_counter() - t0
        return built

    def _calibrate(self, target: float, seed: int) -> dict[str, Any]:
        """Set ``probes`` to the fewest lists whose recall@10 on a sample reaches ``target``."""
        t0 = time.perf_counter()
        n = min(CALIBRATION_WORDS, len(self))
        k = min(CALIBRATION_K, len(self) - 1)
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        ladder = self._ladder()
        measured = 1.0
        self.probes = ladder[-1]
        if k >= 1:
            exact, _ = exact_neighbors(self.unit, rows, k)
            ranked_lists = nearest_lists(self.unit[rows], self.centroids, ladder[-1])
            for p in ladder:
                self.probes = p
                found, _ = self._scan(self.unit[rows], rows, ranked_lists[:, :p], k)
                measured = recall_at_k(exact, found)
                if measured >= target:
                    break
            if measured < target:
                log.warning(
                    "the index reaches recall@10 %.3f at most (%d probes), short of target_recall %.3f: "
                    "build it with fewer lists, or query with exact=True", measured, self.probes, target,
                )  # fmt: skip
        vectors = self._calibrate_vectors(target, seed, n, k, ladder) if k >= 1 else None
        return {"target_recall": target, "reached": measured >= target, "sample_words": n,
                "sample_recall@10": round(measured, 4), "probes": self.probes, "vectors": vectors,
                "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip

    def _calibrate_vectors(self, target: float, seed: int, n: int, k: int, ladder: list[int]) -> dict[str, Any]:
        """Set ``probes_vectors`` to the fewest lists whose recall@10 on analogy vectors reaches ``target``."""
        queries, exclude, exact = analogy_sample(self.unit, n, k, seed)
        ranked_lists = nearest_lists(queries, self.centroids, ladder[-1])
        measured = 1.0
        for p in ladder:
            self.probes_vectors = p
            found, sims = self._scan(queries, np.full(n, -1), ranked_lists[:, :p], k + 3)
            measured = recall_at_k(exact, ranked(found, sims, np.asarray(exclude, dtype=np.int64), k)[0])
            if measured >= target:
                break
        if measured < target:
            log.warning("query vectors reach recall@10 %.3f at most (%d probes), short of target_recall %.3f: "
                        "query with exact=True", measured, self.probes_vectors, target)  # fmt: skip
        return {"sample_queries": n, "sample_recall@10": round(measured, 4), "probes": self.probes_vectors}

    def _ladder(self) -> list[int]:
        """The probe counts a build tries: :data:`PROBE_LADDER` below the lists, then every list if the ladder
        reaches that far (probing every list is brute force; past the ladder it would keep lists × words ids)."""
        return [p for p in PROBE_LADDER if p < self.lists] + ([self.lists] if self.lists <= PROBE_LADDER[-1] else [])

    def __len__(self) -> int:
        return int(self.unit.shape[0])

    def describe(self) -> dict[str, Any]:
        """The index's settings, as the bench reports them."""
        return {
            "library": "embedpipe (numpy k-means, numba scan)",
            "kind": "inverted file, inner product",
            "lists": self.lists,
            "probes": self.probes,
            "probes_vectors": self.probes_vectors,
            "calibration": self.calibration,
            "build_seconds": round(self.build_seconds, 2),
        }

    def search(
        self, queries: np.ndarray, k: int, *, exclude: list[list[int]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each query vector, by cosine among the probed lists' rows.

        Each query probes ``probes_vectors`` lists (else ``probes``). As
        :meth:`embedpipe.vectors.ann.AnnIndex.search`: queries are
        normalised here, ``exclude`` names rows never returned, and the
        result is ``(n, k)`` int64 rows (-1 where fewer were found) and
        float32 cosines (-inf there), best first, ties to the lower row.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q, excluded = query_batch(queries, self.unit.shape[1], exclude)
        probes = nearest_lists(q, self.centroids, self.probes_vectors or self.probes)
        found, sims = self._scan(q, np.full(len(q), -1), probes, min(len(self), k + excluded.shape[1]))
        return ranked(found, sims, excluded, k)

    def search_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each of the index's own ``rows``, the row itself excluded.

        What :meth:`search` answers for ``unit[rows]`` excluding each row,
        with each word's probed lists kept from the build.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"rows must lie in [0, {len(self)}), got {rows.min()}..{rows.max()}")
        q = self.unit[rows]
        kept = self._word_probes
        probes = (
            kept[rows, : self.probes]
            if kept is not None and kept.shape[1] >= self.probes
            else nearest_lists(q, self.centroids, self.probes)  # probes raised since the build
        )
        ids, sims = self._scan(q, rows, probes, k)  # the scan leaves each row out of its own list
        return ids.astype(np.int64), sims

    def _scan(self, q: np.ndarray, own: np.ndarray, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return scan_lists(self.stored, self.stored_ids, self.offsets, q, own.astype(np.int32), probes, k,
                          threads=self.threads)  # fmt: skip
