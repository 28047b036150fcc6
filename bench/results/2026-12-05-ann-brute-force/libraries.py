"""faiss, hnswlib and usearch HNSW graphs at the index's settings, near recall@10 0.95, on an idle machine.

    PYTHONPATH=DIR python libraries.py TABLE > libraries-wiki17m.log
    # DIR: pip install --target DIR hnswlib usearch (numpy removed from DIR); TABLE: a wiki17m run

Each graph: connectivity 24, construction breadth 400 (``AnnIndex``'s
defaults), vectors added in ``locality_order`` so that every library stores
similar words side by side, as the index does. The bench's 10,000 words are
searched as vectors from the top of each graph (hnswlib and usearch take no
entry node), in storage order, top 11 with the word itself dropped; 2 threads.
Median of 5 timings, 0.3 s of sleep before each. For reference, the index's
own ``search_rows`` (entry at the word's node) at the same breadths.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from collections.abc import Callable

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import AnnIndex, locality_order, recall_at_k

M, EFC, THREADS, K = 24, 400, 2, 10


def median_time(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    fn()
    runs = []
    for _ in range(5):
        time.sleep(0.3)
        t0 = time.perf_counter()
        found = fn()
        runs.append((time.perf_counter() - t0, found))
    runs.sort(key=lambda r: r[0])
    return runs[2]


def without_self(found: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.array([[x for x in f if x != r][:K] for f, r in zip(found.tolist(), rows.tolist(), strict=True)])


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    exact, _ = exact_neighbors(unit, rows, K)
    order = locality_order(unit, seed=0)
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    queried = rows[np.argsort(position[rows], kind="stable")]  # storage order
    q = np.ascontiguousarray(unit[queried])
    exact_q = exact[np.argsort(position[rows], kind="stable")]
    stored = np.ascontiguousarray(unit[order])
    faiss.omp_set_num_threads(THREADS)
    print(f"{len(vec)} words, dim {vec.dim}; M {M}, construction {EFC}, {THREADS} threads; batch of 10,000 words")
    print(f"{'library':30s} {'build_s':>7s} {'breadth':>7s} {'median_s':>8s} {'recall@10':>9s}")

    def faiss_graph() -> Callable[[int], np.ndarray]:
        index = faiss.IndexHNSWFlat(unit.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EFC
        index.add(stored)

        def search(ef: int) -> np.ndarray:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(ef, K + 1)
            return order[index.search(q, K + 1, params=params)[1]]

        return search

    def hnswlib_graph() -> Callable[[int], np.ndarray]:
        import hnswlib

        index = hnswlib.Index(space="ip", dim=unit.shape[1])
        index.init_index(max_elements=len(unit), ef_construction=EFC, M=M)
        index.add_items(stored, order, num_threads=THREADS)

        def search(ef: int) -> np.ndarray:
            index.set_ef(max(ef, K + 1))
            return index.knn_query(q, k=K + 1, num_threads=THREADS)[0].astype(np.int64)

        return search

    def usearch_graph() -> Callable[[int], np.ndarray]:
        from usearch.index import Index

        index = Index(ndim=unit.shape[1], metric="ip", dtype="f32", connectivity=M, expansion_add=EFC)
        index.add(order, stored, threads=THREADS)

        def search(ef: int) -> np.ndarray:
            index.expansion_search = max(ef, K + 1)
            return index.search(q, K + 1, threads=THREADS).keys.astype(np.int64)

        return search

    for name, dist, make in (("faiss-cpu", "faiss-cpu", faiss_graph), ("hnswlib", "hnswlib", hnswlib_graph),
                             ("usearch", "usearch", usearch_graph)):  # fmt: skip
        t0 = time.perf_counter()
        search = make()
        build_s = time.perf_counter() - t0
        label = f"{name} {importlib.metadata.version(dist)}"
        for ef in (12, 16, 24, 32, 48):
            secs, found = median_time(lambda s=search, e=ef: s(e))
            recall = recall_at_k(exact_q, without_self(found, queried))
            print(f"{label:30s} {build_s:7.1f} {ef:7d} {secs:8.4f} {recall:9.4f}", flush=True)
    index = AnnIndex.build(unit, ef_search=16)
    for ef in (12, 16, 24, 32, 48):
        index.ef_search = ef
        secs, found = median_time(lambda: index.search_rows(rows, K)[0])
        print(f"{'the index (search_rows)':30s} {index.build_seconds:7.1f} {ef:7d} {secs:8.4f} "
              f"{recall_at_k(exact, found):9.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
