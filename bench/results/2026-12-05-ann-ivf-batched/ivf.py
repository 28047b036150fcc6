"""A batched inverted-file search against brute force and the index, on the bench's 10,000 words.

    python ivf.py TABLE > ivf-wiki17m.log   # TABLE: output.path of a wiki17m run (model sgns)
    python ivf.py TABLE NLISTS PROBES [EFS] # other settings, e.g. 2048,3072 12,16,24,32 [32,48]

The question: can a design that scores with matrix products, as brute force
does, but only against the clusters near each query, reach 20x brute force at
recall@10 >= 0.95 where the HNSW graph reaches about 10x?

The design (a prototype, not in the library):
* build: spherical k-means (faiss, 10 iterations) into ``nlist`` clusters; the
  rows stored cluster by cluster; every word's ``nprobe`` nearest centroids
  kept (the search's probes for a vocabulary word, as ``search_rows`` starts
  from a word's own node);
* search: the (cluster, query) pairs counted into per-cluster query lists;
  each cluster's queries gathered and scored against its rows with one matrix
  product (numba's ``np.dot``, BLAS), each score offered to the query's running
  top-10 (``embedpipe.kernels.topk._offer``); the queries split in two halves,
  one thread each, BLAS on one thread.

Each timing: 0.3 s of sleep, then the call; medians of 7, brute force
(``exact_neighbors``), the index (``AnnIndex.search_rows``, built by
``Vectors.build_index()``) and every IVF setting timed in turn within each
repeat. Recall@10 against brute force's lists.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import faiss
import numba
import numpy as np
import threadpoolctl

from embedpipe import Vectors
from embedpipe.kernels.topk import _offer, empty_lists, exact_neighbors
from embedpipe.vectors.ann import recall_at_k

K = 10


@numba.njit(cache=True, nogil=True)
def invert(probes, part, nlist):  # pragma: no cover - compiled
    """Counting sort of the (cluster, query) pairs of the queries ``part``: bounds per cluster and query rows."""
    bounds = np.zeros(nlist + 1, np.int64)
    for i in range(part.shape[0]):
        for j in range(probes.shape[1]):
            bounds[probes[part[i], j] + 1] += 1
    for c in range(nlist):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    rows = np.empty(part.shape[0] * probes.shape[1], np.int64)
    for i in range(part.shape[0]):
        for j in range(probes.shape[1]):
            c = probes[part[i], j]
            rows[fill[c]] = part[i]
            fill[c] += 1
    return bounds, rows


@numba.njit(cache=True, nogil=True)
def scan(stored, stored_ids, offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s):  # pragma: no cover
    last = ids.shape[1] - 1
    for c in range(offsets.shape[0] - 1):
        a, b = bounds[c], bounds[c + 1]
        m = b - a
        if m == 0:
            continue
        for i in range(m):
            buf_q[i] = q[q_rows[a + i]]
        lo, hi = offsets[c], offsets[c + 1]
        scores = buf_s[: m * (hi - lo)].reshape((m, hi - lo))
        np.dot(buf_q[:m], stored[lo:hi].T, scores)
        for i in range(m):
            r = q_rows[a + i]
            own = q_ids[r]
            floor = sims[r, last]
            for j in range(hi - lo):
                s = scores[i, j]
                if s < floor:
                    continue
                cand = stored_ids[lo + j]
                if cand != own:
                    _offer(ids, sims, r, cand, s)
                    floor = sims[r, last]


class Ivf:
    def __init__(self, unit: np.ndarray, nlist: int, max_probes: int) -> None:
        km = faiss.Kmeans(unit.shape[1], nlist, niter=10, spherical=True, seed=0, verbose=False)
        km.train(unit)
        self.centroids = np.ascontiguousarray(km.centroids)
        label = km.index.search(unit, 1)[1].ravel()
        order = np.argsort(label, kind="stable")
        self.stored = np.ascontiguousarray(unit[order])
        self.stored_ids = order.astype(np.int32)
        self.offsets = np.zeros(nlist + 1, np.int64)
        self.offsets[1:] = np.cumsum(np.bincount(label, minlength=nlist))
        self.nlist = nlist
        self.ranked_probes = np.argsort(-(unit @ self.centroids.T), axis=1)[:, :max_probes]
        self.unit = unit
        self.pool = ThreadPoolExecutor(2)

    def search_rows(self, rows: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        n, dim = len(rows), self.unit.shape[1]
        ids, sims = empty_lists(n, K)
        q = np.ascontiguousarray(self.unit[rows])
        q_ids = rows.astype(np.int32)
        probes = np.ascontiguousarray(self.ranked_probes[rows, :nprobe])
        widest = int(np.diff(self.offsets).max())

        def half(part: np.ndarray) -> None:
            bounds, q_rows = invert(probes, part, self.nlist)
            most = int(np.diff(bounds).max())
            buf_q = np.empty((most, dim), np.float32)
            buf_s = np.empty(most * widest, np.float32)
            scan(self.stored, self.stored_ids, self.offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s)

        with threadpoolctl.threadpool_limits(1):
            list(self.pool.map(half, np.array_split(np.arange(n), 2)))
        return ids, sims


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    exact, _ = exact_neighbors(unit, rows, K)
    index = vec.build_index()
    print(f"{len(vec)} words, dim {vec.dim}; the index: efSearch {index.ef_search}; times in s for 10,000 words")
    calls = {"brute force": lambda: exact_neighbors(unit, rows, K), "index": lambda: index.search_rows(rows, K)}
    chosen = index.ef_search

    def graph(ef: int) -> tuple[np.ndarray, np.ndarray]:
        """The index at another search breadth than its build chose (EFS), set back afterwards."""
        index.ef_search = ef
        try:
            return index.search_rows(rows, K)
        finally:
            index.ef_search = chosen

    for ef in [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else []:
        calls[f"index ef {ef}"] = lambda ef=ef: graph(ef)
    nlists = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else [512, 768]
    probes = [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [8, 10, 12, 14, 16]
    for nlist in nlists:
        ivf = Ivf(unit, nlist, max(probes))
        for nprobe in probes:
            calls[f"ivf {nlist} x {nprobe}"] = lambda ivf=ivf, p=nprobe: ivf.search_rows(rows, p)
    answers = {name: call() for name, call in calls.items()}  # once untimed: compiles and warms
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(7):
        for name, call in calls.items():
            time.sleep(0.3)
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    brute = float(np.median(times["brute force"]))
    print(f"{'search':16s} {'scanned':>8s} {'median_s':>9s} {'fastest_s':>9s} {'speed-up':>8s} {'recall@10':>9s}")
    for name, t in times.items():
        scanned = int(name.split()[3]) / int(name.split()[1]) if name.startswith("ivf") else float("nan")
        median = float(np.median(t))
        print(f"{name:16s} {scanned:8.3f} {median:9.4f} {min(t):9.4f} {brute / median:7.1f}x"
              f" {recall_at_k(exact, answers[name][0]):9.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
