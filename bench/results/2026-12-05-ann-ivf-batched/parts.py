"""Where the batched inverted file's time goes, on one thread: gathers, products, reading the scores, offers.

    python parts.py TABLE > parts-wiki17m.log   # TABLE: output.path of a wiki17m run (model sgns)

The 10,000 words of ``ivf.py``, 768 clusters, 16 probed. Each part is timed
alone, cumulatively: the queries gathered per cluster; then scored with the
products; then every score read and compared with a constant; then the full
scan of ``ivf.py``, whose compare is against the query's running floor and
whose offers keep the top 10. Medians of 7; brute force (``exact_neighbors``)
on the same one thread for scale, per score of its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numba
import numpy as np
import threadpoolctl
from ivf import Ivf, K, invert, scan

from embedpipe import Vectors
from embedpipe.kernels.topk import empty_lists, exact_neighbors


@numba.njit(cache=True, nogil=True)
def scan_parts(stored, offsets, q, q_rows, bounds, buf_q, buf_s, products, reads):  # pragma: no cover - compiled
    total = 0.0
    for c in range(offsets.shape[0] - 1):
        a, b = bounds[c], bounds[c + 1]
        m = b - a
        if m == 0:
            continue
        for i in range(m):
            buf_q[i] = q[q_rows[a + i]]
        lo, hi = offsets[c], offsets[c + 1]
        scores = buf_s[: m * (hi - lo)].reshape((m, hi - lo))
        if products:
            np.dot(buf_q[:m], stored[lo:hi].T, scores)
        if reads:
            for i in range(m):
                for j in range(hi - lo):
                    if scores[i, j] > 0.9:
                        total += scores[i, j]
    return total


def median_time(call: Callable[[], object], repeats: int = 7) -> float:
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


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
    scores = int(sizes[probes].sum())
    print(f"{len(vec)} words; 768 clusters of {sizes.mean():.0f} words on average (largest {sizes.max()}); "
          f"16 probed: {scores / len(rows):.0f} candidates a query, {scores:,} scores in all")  # fmt: skip

    def full() -> None:
        ids, sims = empty_lists(len(rows), K)
        scan(ivf.stored, ivf.stored_ids, ivf.offsets, q, q_ids, q_rows, bounds, ids, sims, buf_q, buf_s)

    def parts(products: bool, reads: bool) -> Callable[[], object]:
        return lambda: scan_parts(ivf.stored, ivf.offsets, q, q_rows, bounds, buf_q, buf_s, products, reads)

    with threadpoolctl.threadpool_limits(1):
        steps = {
            "gathers": parts(False, False),
            "gathers + products": parts(True, False),
            "gathers + products + reading the scores": parts(True, True),
            "the full scan (+ floors and offers)": full,
            "brute force": lambda: exact_neighbors(unit, rows, K),
        }
        for name, call in steps.items():
            brute = name == "brute force"
            s = median_time(call, 3 if brute else 7)
            made = len(rows) * len(vec) if brute else scores  # brute force scores every word
            print(f"{name:42s} {s * 1000:8.1f} ms  {s * 1e9 / made:5.2f} ns a score of its {made:,}", flush=True)


if __name__ == "__main__":
    main()
