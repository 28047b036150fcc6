"""faiss's 4-bit fast-scan product quantizer with an exact re-rank, against brute force, on the bench's 10,000 words.

    python fastscan.py TABLE [FACTORY ...] > fastscan-wiki17m.log

Each index: an inverted file (or none) over 4-bit product-quantized codes
scanned with SIMD lookup tables (faiss ``PQ{M}x4fs``), then the best
``k_factor * 11`` candidates re-scored exactly against the float vectors
(``RFlat``). Top 11 asked, the word itself dropped.
"""

from __future__ import annotations

import sys
import time

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import recall_at_k

K = 10


def drop_self(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.full((len(rows), K), -1, np.int64)
    for i, r in enumerate(rows):
        kept = ids[i][ids[i] != r][:K]
        out[i, : len(kept)] = kept
    return out


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))
    q = np.ascontiguousarray(unit[rows])
    exact, _ = exact_neighbors(unit, rows, K)
    factories = sys.argv[2:] or ["IVF512,PQ50x4fs,RFlat", "IVF1024,PQ50x4fs,RFlat", "IVF512,PQ25x4fs,RFlat"]
    faiss.omp_set_num_threads(2)
    calls = {"brute force": lambda: exact_neighbors(unit, rows, K)}
    for f in factories:
        t0 = time.perf_counter()
        index = faiss.index_factory(unit.shape[1], f, faiss.METRIC_INNER_PRODUCT)
        index.train(unit)
        index.add(unit)
        print(f"# {f}: built in {time.perf_counter() - t0:.1f} s", flush=True)
        ivf = faiss.extract_index_ivf(index) if f.startswith("IVF") else None
        for nprobe in (8, 12, 16, 24, 32) if ivf is not None else (0,):
            for kf in (2, 4, 8):

                def call(index=index, ivf=ivf, nprobe=nprobe, kf=kf):
                    if ivf is not None:
                        ivf.nprobe = nprobe
                    index.k_factor = kf
                    return index.search(q, K + 1)[1]

                calls[f"{f} p{nprobe} kf{kf}"] = call
    answers = {name: call() for name, call in calls.items()}
    recall = {n: recall_at_k(exact, a[0] if n == "brute force" else drop_self(a, rows)) for n, a in answers.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(5):
        for name, call in calls.items():
            time.sleep(0.2)
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    brute = float(np.median(times["brute force"]))
    print(f"{'search':36s} {'median_s':>9s} {'speed-up':>8s} {'recall@10':>9s}")
    for name, t in times.items():
        median = float(np.median(t))
        print(f"{name:36s} {median:9.4f} {brute / median:7.1f}x {recall[name]:9.4f}", flush=True)


if __name__ == "__main__":
    main()
