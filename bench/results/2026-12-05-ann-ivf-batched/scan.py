"""What the inverted file's scan would cost with cheaper reads, cheaper offers, or a floor known in advance.

    python scan.py TABLE > scan-wiki17m.log   # TABLE: output.path of a wiki17m run (model sgns)

The 10,000 words of ``ivf.py``, 768 clusters, 16 probed, on one thread. The
scans below all return the plain scan's lists exactly (checked), except the
oracle floor at margin 0, which drops ties at the floor:

* products only: the gathers and the matrix products, no scan (as ``parts.py``);
* plain: ``ivf.scan``;
* each row counted first: a row's scores (in spans of ``w``) are first counted
  against the list's floor in a loop the compiler turns into vector compares
  (checked in the assembly); a span with no score at or above the floor is
  skipped without the scalar loop;
* branch-free insertion: each offer moves the list's entries with selects
  instead of a loop that stops at the new entry's place;
* oracle floor: every list starts filled with sentinels at its final 10th
  score minus a margin, so almost no score is offered that does not stay. No
  search knows that floor in advance; it bounds what any way of raising the
  floor early (nearest cluster first, a learned estimate) could gain.

Medians of 7, the variants in turn within each repeat, 0.2 s of sleep before
each call; brute force (``exact_neighbors``) on the same thread for scale.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import numba
import numpy as np
import threadpoolctl
from ivf import Ivf, K, invert, scan
from parts import scan_parts

from embedpipe import Vectors
from embedpipe.kernels.topk import _offer, empty_lists, exact_neighbors


@numba.njit(cache=True, nogil=True)
def count_at_least(row, j0, j1, floor):  # pragma: no cover - compiled
    hits = 0
    for j in range(j0, j1):
        hits += row[j] >= floor
    return hits


@numba.njit(nogil=True)  # not cached: numba shows no assembly for cached code, and main checks it
def scan_counted(stored, stored_ids, offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s, w):  # pragma: no cover
    last = ids.shape[1] - 1
    for c in range(offsets.shape[0] - 1):
        a, b = bounds[c], bounds[c + 1]
        m = b - a
        if m == 0:
            continue
        for i in range(m):
            buf_q[i] = q[q_rows[a + i]]
        lo, hi = offsets[c], offsets[c + 1]
        n = hi - lo
        scores = buf_s[: m * n].reshape((m, n))
        np.dot(buf_q[:m], stored[lo:hi].T, scores)
        for i in range(m):
            r = q_rows[a + i]
            row = scores[i]
            own = q_ids[r]
            for j0 in range(0, n, w):
                j1 = min(j0 + w, n)
                if count_at_least(row, j0, j1, sims[r, last]) == 0:
                    continue
                floor = sims[r, last]
                for j in range(j0, j1):
                    s = row[j]
                    if s < floor:
                        continue
                    cand = stored_ids[lo + j]
                    if cand != own:
                        _offer(ids, sims, r, cand, s)
                        floor = sims[r, last]


@numba.njit(cache=True, nogil=True, inline="always")
def _insert_branch_free(ids, sims, r, cid, s):  # pragma: no cover - compiled
    # (s, cid) beats the list's last entry; every entry it beats moves down one place.
    p = ids.shape[1] - 1
    beats_p = True
    while p > 0:
        ps, pi = sims[r, p - 1], ids[r, p - 1]
        beats_prev = (s > ps) | ((s == ps) & (pi >= 0) & (cid < pi))
        sims[r, p] = ps if beats_prev else (s if beats_p else sims[r, p])
        ids[r, p] = pi if beats_prev else (cid if beats_p else ids[r, p])
        beats_p = beats_prev
        p -= 1
    if beats_p:
        sims[r, 0] = s
        ids[r, 0] = cid


@numba.njit(cache=True, nogil=True)
def scan_branch_free(stored, stored_ids, offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s):  # pragma: no cov
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
                if cand != own and (s > floor or ids[r, last] < 0 or cand < ids[r, last]):
                    _insert_branch_free(ids, sims, r, cand, s)
                    floor = sims[r, last]


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    ivf = Ivf(unit, 768, 16)
    q = np.ascontiguousarray(unit[rows])
    q_ids = rows.astype(np.int32)
    probes = np.ascontiguousarray(ivf.ranked_probes[rows, :16])
    sizes = np.diff(ivf.offsets)
    bounds, q_rows = invert(probes, np.arange(len(rows)), ivf.nlist)
    buf_q = np.empty((int(np.diff(bounds).max()), unit.shape[1]), np.float32)
    buf_s = np.empty(len(buf_q) * int(sizes.max()), np.float32)
    args = (ivf.stored, ivf.stored_ids, ivf.offsets, q, q_ids, q_rows, bounds)

    def lists(kernel: Callable[..., None], *extra: object, floor: np.ndarray | None = None) -> Callable[[], tuple]:
        def call() -> tuple[np.ndarray, np.ndarray]:
            ids, sims = empty_lists(len(rows), K)
            if floor is not None:
                sims[:] = floor[:, None]  # sentinels: id -1 at the floor, which no equal score displaces
            kernel(*args, ids, sims, buf_q, buf_s, *extra)
            return ids, sims

        return call

    with threadpoolctl.threadpool_limits(1):
        plain = lists(scan)()
        tenth = plain[1][:, -1]
        calls: dict[str, Callable[[], object]] = {
            "products only": lambda: scan_parts(ivf.stored, ivf.offsets, q, q_rows, bounds, buf_q, buf_s, True, False),
            "plain": lists(scan),
            "each row counted first, spans of 32": lists(scan_counted, 32),
            "each row counted first, whole rows": lists(scan_counted, 1 << 30),
            "branch-free insertion": lists(scan_branch_free),
        }
        for margin in (0.0, 0.02, 0.1):
            calls[f"oracle floor, margin {margin}"] = lists(scan, floor=(tenth - margin).astype(np.float32))
        calls["brute force"] = lambda: exact_neighbors(unit, rows, K)
        answers = {name: call() for name, call in calls.items()}  # once untimed: compiles and warms
        compares = sum(len(re.findall(r"vcmp\w*ps", asm)) for asm in scan_counted.inspect_asm().values())
        print(f"{len(vec)} words; 768 clusters, 16 probed; vector compares in scan_counted: {compares}")
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(7):
            for name, call in calls.items():
                time.sleep(0.2)
                t0 = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t0)
    brute = float(np.median(times["brute force"]))
    print(f"{'scan':38s} {'ms':>7s} {'x brute':>8s}  same lists as plain")
    for name, t in times.items():
        got = answers[name]
        same = (
            "-"
            if not isinstance(got, tuple) or name == "brute force"
            else str(bool(np.array_equal(got[0], plain[0]) and np.array_equal(got[1], plain[1])))
        )
        median = float(np.median(t))
        print(f"{name:38s} {median * 1000:7.1f} {brute / median:7.1f}x  {same}", flush=True)
    print_floor_prediction(ivf, unit)


def print_floor_prediction(ivf: Ivf, unit: np.ndarray) -> None:
    """How closely a word's centroid scores predict its 10th score: the margin a predicted floor would need."""
    every = np.arange(len(unit))
    with threadpoolctl.threadpool_limits(1):
        tenth = ivf.search_rows(every, 16)[1][:, -1]
    best = -np.sort(-(unit @ ivf.centroids.T), axis=1)
    features = np.column_stack([best[:, [0, 1, 3, 7, 15]], np.ones(len(unit))])
    coef, *_ = np.linalg.lstsq(features, tenth, rcond=None)
    miss = tenth - features @ coef
    p1, p5, p10 = np.quantile(miss, [0.01, 0.05, 0.1])
    print(f"10th score of every word (sd {tenth.std():.4f}) predicted from its 1st, 2nd, 4th, 8th and 16th "
          f"centroid scores by least squares: misses by sd {miss.std():.4f}; too high by {-p1:.4f} / {-p5:.4f} / "
          f"{-p10:.4f} at the 1st / 5th / 10th percentile")  # fmt: skip


if __name__ == "__main__":
    main()
