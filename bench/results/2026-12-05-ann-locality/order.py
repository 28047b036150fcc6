"""Storage orders for a faiss HNSW graph: batch search time with and without similar rows side by side.

    python order.py TABLE EF_SEARCH CLUSTER_COUNTS
    python order.py /work/benchout/t17 16 64,128,256,512    > order-wiki17m.log
    python order.py /work/benchout/t70 80 256,1024,4096     > order-270k.log

One graph (M=24, efConstruction 400) is built in the vocabulary's order; each
order is applied with faiss's ``permute_entries`` (the same graph, so the
same recall). 10,000 query words (seed 1) search from their own node, sorted
by their place in storage. Orders: the vocabulary's ("identity"), spherical
k-means clusters one after the other, and the same clusters grouped by a
k-means of their centroids (about sqrt(clusters) groups). "warm": the
fastest of 4 searches repeated at once; "cold": the median of 4 searches
right after a brute-force batch (its BLAS threads still spinning, which this
script did not yet separate from the caches; see report.md).
"""

import sys
import time

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import recall_at_k

vec = Vectors.from_table(sys.argv[1], "sgns")
ef = int(sys.argv[2])
counts = [int(x) for x in sys.argv[3].split(",")]
unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
V, d = unit.shape
rows = np.sort(np.random.default_rng(1).choice(V, size=10000, replace=False))
exact, _ = exact_neighbors(unit, rows, 10)
faiss.omp_set_num_threads(2)
s0 = time.perf_counter()
index = faiss.IndexHNSWFlat(d, 24, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = 400
index.add(unit)
print(V, "build", round(time.perf_counter() - s0, 1), flush=True)


def search(idx, data, newrows):
    order = np.argsort(newrows, kind="stable")
    qr = newrows[order]
    q = np.ascontiguousarray(data[qr])
    entry = np.ascontiguousarray(qr.astype(np.int32).reshape(-1, 1))
    entry_d = np.ascontiguousarray(-np.einsum("nd,nd->n", q, q).reshape(-1, 1), dtype=np.float32)
    dist = np.empty((len(qr), 11), np.float32)
    found = np.empty((len(qr), 11), np.int64)
    params = faiss.SearchParametersHNSW()
    params.efSearch = ef
    t = time.perf_counter()
    idx.search_level_0(
        len(qr), faiss.swig_ptr(q), 11, faiss.swig_ptr(entry), faiss.swig_ptr(entry_d),
        faiss.swig_ptr(dist), faiss.swig_ptr(found), 1, 1, params,
    )  # fmt: skip
    s = time.perf_counter() - t
    out = np.empty_like(found)
    out[order] = found
    return s, out


def measure(name, perm):
    inv = np.empty(V, np.int64)
    inv[perm] = np.arange(V)
    idx2 = faiss.clone_index(index)
    idx2.permute_entries(perm.astype(np.int64))
    data2 = np.ascontiguousarray(unit[perm])
    warm, cold, bf = [], [], []
    for _ in range(4):
        t = time.perf_counter()
        exact_neighbors(unit, rows, 10)
        bf.append(time.perf_counter() - t)
        s, found = search(idx2, data2, inv[rows])
        cold.append(s)
        s, found = search(idx2, data2, inv[rows])
        warm.append(s)
    old = np.where(found >= 0, perm[np.maximum(found, 0)], -1)
    others = np.argsort(old == rows[:, None], axis=1, kind="stable")[:, :10]
    r = recall_at_k(exact, np.take_along_axis(old, others, axis=1))
    b = min(bf)
    print(
        f"{name:28s} recall {r:.4f} warm {min(warm):.4f} ({b / min(warm):.1f}x) "
        f"cold {np.median(cold):.4f} ({np.median(bf) / np.median(cold):.1f}x)",
        flush=True,
    )


def kmeans(x, c, seed=0):
    km = faiss.Kmeans(x.shape[1], c, niter=10, spherical=True, seed=seed, verbose=False)
    km.train(x)
    _, lab = km.index.search(x, 1)
    return km.centroids, lab.ravel()


measure("identity", np.arange(V))
for c in counts:
    t = time.perf_counter()
    cen, lab = kmeans(unit, c)
    kt = time.perf_counter() - t
    measure(f"kmeans {c} ({kt:.1f}s)", np.argsort(lab, kind="stable"))
    g = max(2, int(round(np.sqrt(c))))
    _, glab = kmeans(cen, g)
    rank = np.lexsort((np.arange(c), glab))  # clusters ordered by group
    pos = np.empty(c, np.int64)
    pos[rank] = np.arange(c)
    measure(f"kmeans {c}, {g} groups", np.argsort(pos[lab], kind="stable"))
