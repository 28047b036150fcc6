"""Running compiled kernels on several threads of one process.

Every kernel in this package is compiled with ``nogil=True``, so Python
threads run them truly in parallel. Two uses:

* **Hogwild** (Recht et al. 2011), as word2vec.c, gensim and glove.c train:
  the threads update one shared model without locks, each on its own part of
  the data. Collisions are rare on sparse updates and the result is not
  bit-reproducible for more than one thread.
* **Exact parallelism**: jobs that touch disjoint rows (the cells of one
  block-rotation task) give the same result in any order, so threads change
  only the wall time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

R = TypeVar("R")


def run_parallel(jobs: Sequence[Callable[[], R]], threads: int) -> list[R]:
    """Each job's result, in the jobs' order, running up to ``threads`` at once.

    One thread (or one job) runs them in the caller's thread. The first
    error a job raises is raised here, after every job has ended.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads == 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def split_by_weight(cumulative: np.ndarray, parts: int) -> np.ndarray:
    """``parts + 1`` cut points into the units that ``cumulative`` ends.

    ``cumulative`` is non-decreasing with ``cumulative[0] == 0`` (for example
    sentence offsets: unit ``s`` spans ``cumulative[s]:cumulative[s+1]``).
    Cut ``k`` is the unit boundary nearest to ``k/parts`` of the total, so the
    parts carry about equal weight without splitting a unit; cuts are
    non-decreasing and the first and last are ``0`` and ``len(cumulative) - 1``.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    units = len(cumulative) - 1
    if units < 0:
        raise ValueError("cumulative must hold at least one value (0)")
    total = float(cumulative[-1]) if units else 0.0
    targets = np.linspace(0.0, total, parts + 1)
    cuts = np.searchsorted(cumulative, targets, side="left").astype(np.int64)
    cuts[0], cuts[-1] = 0, units
    return np.maximum.accumulate(np.minimum(cuts, units))
