"""How fast numba makes one list's products, three ways, on one core.

    python products.py > products.log

The inverted file scores each query against the rows of a list (about 16 to
90 rows at dim 100). Three ways to write that loop in numba, each timed on
the same random rows (68,000 x 100, float32) for 100,000 repetitions of a
list of 88 rows:

* columns: the rows stored transposed, each query value times a column added
  to the scores (no reordered sums, so no ``fastmath`` needed);
* 1 x 4: one query against four rows at a time, four running sums
  (``fastmath``);
* 4 x 4: four queries against four rows at a time, sixteen running sums
  (``fastmath``): the kernel embedpipe ships (``embedpipe.kernels.ivf._products``).
"""

from __future__ import annotations

import time

import numba
import numpy as np

from embedpipe.kernels.ivf import _products

ROWS, DIM, LO, M, REPS = 68000, 100, 100, 88, 100_000


@numba.njit(nogil=True)
def columns(stored_t, q, lo, m, reps, scores):  # pragma: no cover - compiled
    for _ in range(reps):
        for j in range(m):
            scores[j] = 0.0
        for d in range(q.shape[0]):
            x = q[d]
            for j in range(m):
                scores[j] += x * stored_t[d, lo + j]


@numba.njit(nogil=True, fastmath=True)
def one_by_four(stored, q, lo, m, reps, scores):  # pragma: no cover - compiled
    for _ in range(reps):
        j = 0
        while j + 4 <= m:
            r0, r1, r2, r3 = stored[lo + j], stored[lo + j + 1], stored[lo + j + 2], stored[lo + j + 3]
            a0 = a1 = a2 = a3 = np.float32(0.0)
            for d in range(q.shape[0]):
                x = q[d]
                a0 += x * r0[d]
                a1 += x * r1[d]
                a2 += x * r2[d]
                a3 += x * r3[d]
            scores[j], scores[j + 1], scores[j + 2], scores[j + 3] = a0, a1, a2, a3
            j += 4


@numba.njit(nogil=True)
def four_by_four(stored, qs, lo, m, reps, scores):  # pragma: no cover - compiled
    for _ in range(reps):
        _products(stored, lo, m, qs[0], qs[1], qs[2], qs[3], scores)


def main() -> None:
    rng = np.random.default_rng(0)
    stored = rng.random((ROWS, DIM), dtype=np.float32)
    stored_t = np.ascontiguousarray(stored.T)
    qs = rng.random((4, DIM), dtype=np.float32)
    one = np.empty(M, np.float32)
    four = np.empty((4, M), np.float32)
    runs = {
        "columns": (lambda n: columns(stored_t, qs[0], LO, M, n, one), 1),
        "1 x 4": (lambda n: one_by_four(stored, qs[0], LO, M, n, one), 1),
        "4 x 4": (lambda n: four_by_four(stored, qs, LO, M, n, four), 4),
    }
    print(f"{'kernel':8s} {'ns per query and list':>22s} {'multiply-adds/s':>16s}")
    for name, (run, queries) in runs.items():
        run(10)  # compiles
        t0 = time.perf_counter()
        run(REPS)
        secs = time.perf_counter() - t0
        pairs = REPS * queries
        print(f"{name:8s} {secs / pairs * 1e9:22.0f} {pairs * M * DIM / secs / 1e9:15.1f}G")
    expected = qs @ stored[LO : LO + M].T
    assert np.allclose(four, expected, rtol=1e-5), "the 4 x 4 kernel's scores are the products"


if __name__ == "__main__":
    main()
