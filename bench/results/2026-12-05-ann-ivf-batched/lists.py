"""Two more ways to keep the inverted file's top-10 lists, and smaller products, against the plain file.

    python lists.py TABLE > lists-wiki17m.log   # TABLE: the wiki17m run of ivf.py

The plain inverted file (ivf.py) offers each score at or above a query's 10th
to a sorted list, shifting the worse entries down. Single-threaded, its
products take about 41 ms of its 100 ms at 512 x 12, so the lists looked
like the other half. Tried here, on the same 10,000 words and the same
clusters:
* heap: each list a min-heap of 10 (the worst kept at the root), scores
  picked branch-free into a row's candidates first, the heaps sorted at the end;
* chunk N: each cluster's queries scored N at a time, so a product's scores
  stay in the core's cache until they are offered.
A product's summation order follows its shape, so a chunked search's scores
may differ from the plain file's in the last bit; its ids are compared.
Each timing: 0.3 s of sleep, then the call; medians of 7, every call in turn
within each repeat.
"""

from __future__ import annotations

import sys
import time

import numba
import numpy as np
import threadpoolctl
from ivf import Ivf, K, invert

from embedpipe import Vectors
from embedpipe.kernels.topk import _offer, empty_lists, exact_neighbors
from embedpipe.vectors.ann import recall_at_k


@numba.njit(cache=True, nogil=True, inline="always")
def _worse(s, c, ps, pc):  # pragma: no cover - compiled
    """(s, c) ranks below (ps, pc): a lower score, or the same and a higher id; an empty slot (-1) lowest."""
    return s < ps or (s == ps and (c < 0 or (pc >= 0 and c > pc)))


@numba.njit(cache=True, nogil=True, inline="always")
def _heap_replace_root(hs, hi, r, s, c):  # pragma: no cover - compiled
    k = hs.shape[1]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        if child + 1 < k and _worse(hs[r, child + 1], hi[r, child + 1], hs[r, child], hi[r, child]):
            child += 1
        if _worse(hs[r, child], hi[r, child], s, c):
            hs[r, pos] = hs[r, child]
            hi[r, pos] = hi[r, child]
            pos = child
        else:
            break
    hs[r, pos] = s
    hi[r, pos] = c


@numba.njit(cache=True, nogil=True)
def scan_heap(stored, stored_ids, offsets, q, q_ids, q_rows, bounds, hi, hs, buf_q, buf_s, pick):  # pragma: no cover
    for c in range(offsets.shape[0] - 1):
        a, b = bounds[c], bounds[c + 1]
        m = b - a
        if m == 0:
            continue
        for i in range(m):
            buf_q[i] = q[q_rows[a + i]]
        lo, end = offsets[c], offsets[c + 1]
        w = end - lo
        scores = buf_s[: m * w].reshape((m, w))
        np.dot(buf_q[:m], stored[lo:end].T, scores)
        for i in range(m):
            r = q_rows[a + i]
            own = q_ids[r]
            floor = hs[r, 0]
            n = 0
            for j in range(w):  # branch-free: the positions at or above the floor
                pick[n] = j
                n += scores[i, j] >= floor
            for t in range(n):
                s = scores[i, pick[t]]
                cand = stored_ids[lo + pick[t]]
                if cand != own and not _worse(s, cand, hs[r, 0], hi[r, 0]):
                    _heap_replace_root(hs, hi, r, s, cand)


@numba.njit(cache=True, nogil=True)
def sort_heaps(hi, hs, ids, sims):  # pragma: no cover - compiled
    for r in range(hi.shape[0]):
        for j in range(hi.shape[1]):
            s, c = hs[r, j], hi[r, j]
            pos = j
            while pos > 0 and _worse(sims[r, pos - 1], ids[r, pos - 1], s, c):
                sims[r, pos] = sims[r, pos - 1]
                ids[r, pos] = ids[r, pos - 1]
                pos -= 1
            sims[r, pos] = s
            ids[r, pos] = c


@numba.njit(cache=True, nogil=True)
def scan_chunked(
    stored, stored_ids, offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s, chunk
):  # pragma: no cover - compiled
    last = ids.shape[1] - 1
    for c in range(offsets.shape[0] - 1):
        lo, end = offsets[c], offsets[c + 1]
        w = end - lo
        for a in range(bounds[c], bounds[c + 1], chunk):
            m = min(a + chunk, bounds[c + 1]) - a
            for i in range(m):
                buf_q[i] = q[q_rows[a + i]]
            scores = buf_s[: m * w].reshape((m, w))
            np.dot(buf_q[:m], stored[lo:end].T, scores)
            for i in range(m):
                r = q_rows[a + i]
                own = q_ids[r]
                floor = sims[r, last]
                for j in range(w):
                    s = scores[i, j]
                    if s < floor:
                        continue
                    cand = stored_ids[lo + j]
                    if cand != own:
                        _offer(ids, sims, r, cand, s)
                        floor = sims[r, last]


def search(ivf: Ivf, rows: np.ndarray, nprobe: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    n, dim = len(rows), ivf.unit.shape[1]
    q = np.ascontiguousarray(ivf.unit[rows])
    q_ids = rows.astype(np.int32)
    probes = np.ascontiguousarray(ivf.ranked_probes[rows, :nprobe])
    widest = int(np.diff(ivf.offsets).max())
    ids, sims = empty_lists(n, K)
    heap_ids, heap_sims = empty_lists(n, K)

    def half(part: np.ndarray) -> None:
        bounds, q_rows = invert(probes, part, ivf.nlist)
        if how == "heap":
            most = int(np.diff(bounds).max())
            buf_q, buf_s = np.empty((most, dim), np.float32), np.empty(most * widest, np.float32)
            pick = np.empty(widest, np.int64)
            scan_heap(ivf.stored, ivf.stored_ids, ivf.offsets, q, q_ids, q_rows, bounds, heap_ids, heap_sims,
                      buf_q, buf_s, pick)  # fmt: skip
        else:
            chunk = int(how.split()[1])
            buf_q, buf_s = np.empty((chunk, dim), np.float32), np.empty(chunk * widest, np.float32)
            scan_chunked(ivf.stored, ivf.stored_ids, ivf.offsets, q, q_ids, q_rows, bounds, ids, sims,
                         buf_q, buf_s, chunk)  # fmt: skip

    with threadpoolctl.threadpool_limits(1):
        list(ivf.pool.map(half, np.array_split(np.arange(n), 2)))
    if how == "heap":
        sort_heaps(heap_ids, heap_sims, ids, sims)
    return ids, sims


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    exact, _ = exact_neighbors(unit, rows, K)
    calls = {"brute force": lambda: exact_neighbors(unit, rows, K)}
    for nlist, nprobe in ((512, 12), (768, 16)):
        ivf = Ivf(unit, nlist, 16)
        setting = f"{nlist} x {nprobe}"
        calls[f"plain {setting}"] = lambda ivf=ivf, p=nprobe: ivf.search_rows(rows, p)
        for how in ("heap", "chunk 64", "chunk 256"):
            calls[f"{how} {setting}"] = lambda ivf=ivf, p=nprobe, how=how: search(ivf, rows, p, how)
    answers = {name: call() for name, call in calls.items()}  # once untimed: compiles and warms
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(7):
        for name, call in calls.items():
            time.sleep(0.3)
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    brute = float(np.median(times["brute force"]))
    print(f"{len(vec)} words, dim {vec.dim}; times in s for 10,000 words; 'same' = the plain file's ids exactly")
    print(f"{'search':20s} {'median_s':>9s} {'speed-up':>8s} {'recall@10':>9s}")
    for name, t in times.items():
        plain = "plain " + " ".join(name.split()[-3:])
        same = "" if name == plain or name == "brute force" else (
            " same" if (answers[name][0] == answers[plain][0]).all() else " DIFFERENT")
        median = float(np.median(t))
        print(f"{name:20s} {median:9.4f} {brute / median:7.1f}x {recall_at_k(exact, answers[name][0]):9.4f}{same}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
