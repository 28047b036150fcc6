"""Recall@10 against batch time for faiss HNSW graphs of several shapes, on one model's vectors.

    python sweep.py TABLE STORAGES CONNECTIVITIES EF_CONSTRUCTIONS [EF_SEARCHES]
    python sweep.py /work/benchout/t17 flat 8,12,16,24,32 100,200,400

STORAGES is a comma list of flat, fp16, sq8 (faiss's IndexHNSWFlat and
IndexHNSWSQ). 10,000 query words (seed 1) each search from their own node
on the bottom layer, as ``AnnIndex.search_rows`` does, for the top 11 (the
word itself dropped); the time is the fastest of two batches, against the
fastest of two brute-force batches (``exact_neighbors``). 2 faiss threads.
"""

import sys
import time
from functools import partial

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import recall_at_k

vec = Vectors.from_table(sys.argv[1], "sgns")
unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
V, d = unit.shape
rows = np.sort(np.random.default_rng(1).choice(V, size=10000, replace=False))
q = np.ascontiguousarray(unit[rows])


def search_from_own_node(index, entry, entry_d, dist, found, params):
    index.search_level_0(
        len(rows), faiss.swig_ptr(q), 11, faiss.swig_ptr(entry), faiss.swig_ptr(entry_d),
        faiss.swig_ptr(dist), faiss.swig_ptr(found), 1, 1, params,
    )


def fastest(fn, repeats=2):
    best, value = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return value, best


(exact, _), exact_s = fastest(lambda: exact_neighbors(unit, rows, 10))
print(f"{V} words, dim {d}; brute force {exact_s:.3f}s", flush=True)
faiss.omp_set_num_threads(2)
STORAGE = {"flat": None, "fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}
for storage in sys.argv[2].split(","):
    for m in [int(x) for x in sys.argv[3].split(",")]:
        for efc in [int(x) for x in sys.argv[4].split(",")]:
            if STORAGE[storage] is None:
                index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexHNSWSQ(d, STORAGE[storage], m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = efc
            t = time.perf_counter()
            if STORAGE[storage] is not None:
                index.train(unit)
            index.add(unit)
            build_s = time.perf_counter() - t
            entry = np.ascontiguousarray(rows.astype(np.int32).reshape(-1, 1))
            entry_d = np.full((len(rows), 1), -1.0, np.float32)
            for ef in [int(x) for x in (sys.argv[5] if len(sys.argv) > 5 else "10,12,16,20,24,32").split(",")]:
                dist = np.empty((len(rows), 11), np.float32)
                found = np.empty((len(rows), 11), np.int64)
                params = faiss.SearchParametersHNSW()
                params.efSearch = max(ef, 11)
                _, secs = fastest(partial(search_from_own_node, index, entry, entry_d, dist, found, params))
                # The first 10 other than the word itself, in faiss's order.
                others = np.argsort(found == rows[:, None], axis=1, kind="stable")[:, :10]
                kept = np.take_along_axis(found, others, axis=1)
                print(f"{storage} M={m} efC={efc} build {build_s:.1f}s efSearch={ef}: {secs:.3f}s "
                      f"({exact_s / secs:.1f}x) recall@10 {recall_at_k(exact, kept):.4f}", flush=True)
