"""The graph's storage and connectivity against search time and recall@10, stored by cluster as the index is.

    python graph.py TABLE > graph-wiki17m.log   # TABLE: output.path of a wiki17m run (model sgns)

Builds faiss HNSW graphs on the same unit vectors: flat float32 storage at
connectivity M 12, 16, 24 (the index's), 32 and 48, and fp16 and 8-bit
storage at M 24; each renumbered by ``locality_order`` as ``AnnIndex`` does.
Then searches the bench's 10,000 words from their own nodes, as
``AnnIndex.search_rows`` does, at several search breadths: median and
fastest of 7 timings (0.3 s of sleep before each; the search and the
mapping back to rows, as ``search_rows`` times it), and recall@10 against
brute force.
"""

from __future__ import annotations

import sys
import time

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import locality_order, recall_at_k

STORAGE = {"fp16": faiss.ScalarQuantizer.QT_fp16, "8-bit": faiss.ScalarQuantizer.QT_8bit}


def build(unit: np.ndarray, m: int, storage: str, order: np.ndarray) -> tuple[faiss.Index, float]:
    dim = unit.shape[1]
    if storage == "float32":
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexHNSWSQ(dim, STORAGE[storage], m, faiss.METRIC_INNER_PRODUCT)
        index.train(unit)
    index.hnsw.efConstruction = 400
    t0 = time.perf_counter()
    index.add(unit)
    index.permute_entries(order)
    return index, time.perf_counter() - t0


def search(index: faiss.Index, unit: np.ndarray, rows: np.ndarray, order: np.ndarray, ef: int, k: int = 10):
    """Each row's k + 1 best rows (itself among them), each search started at the row's own node."""
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    stored = position[rows]
    by_storage = np.argsort(stored, kind="stable")
    q = np.ascontiguousarray(unit[rows[by_storage]])
    entry = np.ascontiguousarray(stored[by_storage].astype(np.int32).reshape(-1, 1))
    entry_distance = np.ascontiguousarray(-np.einsum("nd,nd->n", q, q).reshape(-1, 1), dtype=np.float32)
    distances = np.empty((len(rows), k + 1), np.float32)
    found = np.full((len(rows), k + 1), -1, np.int64)
    params = faiss.SearchParametersHNSW()
    params.efSearch = max(ef, k + 1)
    index.search_level_0(len(rows), faiss.swig_ptr(q), k + 1, faiss.swig_ptr(entry), faiss.swig_ptr(entry_distance),
                         faiss.swig_ptr(distances), faiss.swig_ptr(found), 1, 1, params)  # fmt: skip
    answer = np.empty_like(found)
    answer[by_storage] = np.where(found >= 0, order[np.maximum(found, 0)], -1)
    return answer


def without_self(answer: np.ndarray, rows: np.ndarray, k: int = 10) -> np.ndarray:
    return np.array([[x for x in r if x != w][:k] for r, w in zip(answer.tolist(), rows.tolist(), strict=True)])


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    exact, _ = exact_neighbors(unit, rows, 10)
    order = locality_order(unit, seed=0)
    print(f"{len(vec)} words, dim {vec.dim}, faiss {faiss.__version__}; times in s for 10,000 words")
    print("storage  M   build_s  efSearch  median_s  fastest_s  recall@10")
    graphs = [("float32", m) for m in (12, 16, 24, 32, 48)] + [("fp16", 24), ("8-bit", 24)]
    for storage, m in graphs:
        index, build_s = build(unit, m, storage, order)
        for ef in (12, 16, 24, 32):
            times = []
            for _ in range(7):
                time.sleep(0.3)
                t0 = time.perf_counter()
                found = search(index, unit, rows, order, ef)
                times.append(time.perf_counter() - t0)
            print(f"{storage:8s} {m:<3d} {build_s:7.1f}  {ef:8d}  {np.median(times):8.4f}  {min(times):9.4f}"
                  f"  {recall_at_k(exact, without_self(found, rows)):9.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
