"""The inverted file's list count against its speed and recall, on the bench's 10,000 words.

    python lists.py TABLE LISTS PROBES > lists-wiki17m.log   # e.g. 768,2048,4096,8192 16,24,32,40,48

For each list count: one build (``InvertedFileIndex.build``, k-means seed 0,
each word's lists ranked to the widest of PROBES so no search ranks them
again), then for each probe count, five rounds of brute force
(``exact_neighbors``) and the index (``search_rows``) in turn, each after
0.3 s of sleep; the speed-up is the median of the rounds' ratios. Recall@10
against brute force's lists.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import recall_at_k
from embedpipe.vectors.ivf import InvertedFileIndex


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    exact, _ = exact_neighbors(unit, rows, 10)
    probes = [int(x) for x in sys.argv[3].split(",")]
    print(f"{len(vec)} words, dim {vec.dim}; 10,000 words searched")
    heads = ("lists", "build_s", "probes", "brute_s", "index_s", "speed-up", "recall@10")
    print(" ".join(f"{h:>{w}s}" for h, w in zip(heads, (6, 7, 6, 7, 7, 8, 9), strict=True)))
    for lists in [int(x) for x in sys.argv[2].split(",")]:
        t0 = time.perf_counter()
        index = InvertedFileIndex.build(unit, lists=lists, probes=max(probes))
        build = time.perf_counter() - t0
        for p in probes:
            index.probes = p
            found, _ = index.search_rows(rows, 10)  # untimed: warms
            brute, ivf = [], []
            for _ in range(5):
                time.sleep(0.3)
                t0 = time.perf_counter()
                exact_neighbors(unit, rows, 10)
                brute.append(time.perf_counter() - t0)
                time.sleep(0.3)
                t0 = time.perf_counter()
                index.search_rows(rows, 10)
                ivf.append(time.perf_counter() - t0)
            ratio = float(np.median(np.array(brute) / np.array(ivf)))
            print(f"{lists:6d} {build:7.1f} {p:6d} {np.median(brute):7.3f} {np.median(ivf):7.4f} {ratio:7.1f}x"
                  f" {recall_at_k(exact, found):9.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
