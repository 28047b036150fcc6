"""Variants of ivf.py's batched inverted file, timed beside brute force in one interleaved run.

    python variants.py TABLE > variants-wiki17m.log

* ``rowmax``: a row of a cluster's scores is skipped when its largest is below the query's list floor;
* ``d<delta>`` (adaptive probes): of a word's first ``p`` clusters, only those whose centroid's
  cosine is within ``delta`` of the nearest centroid's;
* ``spill<eps>``: each word is stored in its second-nearest cluster too when that centroid's cosine
  is within ``eps`` of the nearest's (1.0: always), and a list never takes a word twice.

``scanned``: the mean share of the vocabulary a query's probed clusters hold. Medians of 5.
"""

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
def invert(probes, counts, part, nlist):
    bounds = np.zeros(nlist + 1, np.int64)
    for i in range(part.shape[0]):
        for j in range(counts[part[i]]):
            bounds[probes[part[i], j] + 1] += 1
    for c in range(nlist):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    rows = np.empty(bounds[nlist], np.int64)
    for i in range(part.shape[0]):
        for j in range(counts[part[i]]):
            c = probes[part[i], j]
            rows[fill[c]] = part[i]
            fill[c] += 1
    return bounds, rows


@numba.njit(cache=True, nogil=True)
def scan(stored, stored_ids, offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s, rowmax, dedupe):
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
            if rowmax:
                best = scores[i, 0]
                for j in range(1, hi - lo):
                    if scores[i, j] > best:
                        best = scores[i, j]
                if best < floor:
                    continue
            for j in range(hi - lo):
                s = scores[i, j]
                if s < floor:
                    continue
                cand = stored_ids[lo + j]
                if cand == own:
                    continue
                if dedupe:
                    seen = False
                    for t in range(last + 1):
                        if ids[r, t] == cand:
                            seen = True
                    if seen:
                        continue
                _offer(ids, sims, r, cand, s)
                floor = sims[r, last]


class Ivf:
    def __init__(self, unit, nlist, spill):
        km = faiss.Kmeans(unit.shape[1], nlist, niter=10, spherical=True, seed=0, verbose=False)
        km.train(unit)
        self.centroids = np.ascontiguousarray(km.centroids)
        cs = unit @ self.centroids.T
        rank = np.argsort(-cs, axis=1)[:, :40]
        self.ranked = np.ascontiguousarray(rank)
        self.rscore = np.take_along_axis(cs, rank, axis=1)
        label = rank[:, 0]
        if spill:  # each word also in its second cluster when that centroid is within `spill` of the first
            second = self.rscore[:, 1] >= self.rscore[:, 0] - spill
            rows_ = np.concatenate([np.arange(len(unit)), np.flatnonzero(second)])
            labs = np.concatenate([label, rank[second, 1]])
        else:
            rows_ = np.arange(len(unit))
            labs = label
        order = np.lexsort((rows_, labs))
        self.stored = np.ascontiguousarray(unit[rows_[order]])
        self.stored_ids = rows_[order].astype(np.int32)
        self.offsets = np.zeros(nlist + 1, np.int64)
        self.offsets[1:] = np.cumsum(np.bincount(labs, minlength=nlist))
        self.nlist = nlist
        self.unit = unit
        self.spill = spill
        self.pool = ThreadPoolExecutor(2)
        self.stored_share = len(rows_) / len(unit)

    def search_rows(self, rows, nprobe, delta=None, rowmax=False):
        n, dim = len(rows), self.unit.shape[1]
        ids, sims = empty_lists(n, K)
        q = np.ascontiguousarray(self.unit[rows])
        q_ids = rows.astype(np.int32)
        probes = np.ascontiguousarray(self.ranked[rows, :nprobe])
        if delta is None:
            counts = np.full(n, nprobe, np.int64)
        else:
            sc = self.rscore[rows, :nprobe]
            counts = (sc >= sc[:, :1] - delta).sum(axis=1).astype(np.int64)
        widest = int(np.diff(self.offsets).max())

        def half(part):
            bounds, q_rows = invert(probes, counts, part, self.nlist)
            most = int(np.diff(bounds).max())
            scan(
                self.stored,
                self.stored_ids,
                self.offsets,
                q,
                q_ids,
                q_rows,
                bounds,
                ids,
                sims,
                np.empty((most, dim), np.float32),
                np.empty(most * widest, np.float32),
                rowmax,
                self.spill > 0,
            )

        with threadpoolctl.threadpool_limits(1):
            list(self.pool.map(half, np.array_split(np.arange(n), 2)))
        sizes = np.diff(self.offsets)[probes] * (np.arange(probes.shape[1]) < counts[:, None])
        return ids, sims, float(sizes.sum(axis=1).mean() / len(self.unit))


vec = Vectors.from_table(sys.argv[1], "sgns")
unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))
exact, _ = exact_neighbors(unit, rows, K)
calls = {"brute force": lambda: (*exact_neighbors(unit, rows, K), 1.0)}
for nlist in (512, 768):
    base = Ivf(unit, nlist, 0.0)
    for p in (12, 14) if nlist == 512 else (14, 16):
        calls[f"{nlist} p{p}"] = lambda b=base, p=p: b.search_rows(rows, p)
        calls[f"{nlist} p{p} rowmax"] = lambda b=base, p=p: b.search_rows(rows, p, rowmax=True)
    for p, delta in ((20, 0.10), (24, 0.12), (24, 0.15), (32, 0.15)):
        calls[f"{nlist} p{p} d{delta}"] = lambda b=base, p=p, d=delta: b.search_rows(rows, p, d)
    for spill in (0.05, 1.0):
        sp = Ivf(unit, nlist, spill)
        for p in (8, 10, 12):
            calls[f"{nlist} spill{spill} p{p}"] = lambda b=sp, p=p: b.search_rows(rows, p)
answers = {name: c() for name, c in calls.items()}  # once untimed: compiles and warms
times = {n: [] for n in calls}
for _ in range(5):
    for name, c in calls.items():
        time.sleep(0.3)
        t0 = time.perf_counter()
        c()
        times[name].append(time.perf_counter() - t0)
brute = np.median(times["brute force"])
for name, t in times.items():
    print(
        f"{name:24s} scanned {answers[name][2]:.3f} median {np.median(t):.4f} x{brute / np.median(t):5.1f}"
        f" recall {recall_at_k(exact, answers[name][0]):.4f}",
        flush=True,
    )
