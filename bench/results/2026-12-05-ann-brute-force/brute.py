"""Where batched brute force spends its time: chunk and tile shapes, a fresh or a reused buffer, faiss's.

    python brute.py TABLE > brute-wiki17m.log   # TABLE: output.path of a wiki17m run (model sgns)

Every variant answers bench.ann's 10,000 words (top 10, the word itself
excluded) with the library's compiled scan (``_offer_block``) and is checked
to give ``exact_neighbors``' lists exactly. Median of 5 timings, 0.5 s of
sleep before each, and the minor page faults of the median run.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import _offer_block, empty_lists, exact_neighbors

K = 10


def timed(fn: Callable[[], object]) -> tuple[float, int, object]:
    fn()
    runs = []
    for _ in range(5):
        time.sleep(0.5)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        value = fn()
        runs.append((time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults, value))
    runs.sort(key=lambda r: r[0])
    return runs[2]


def chunks(unit: np.ndarray, rows: np.ndarray, reuse: bool) -> Callable[[], object]:
    """The code before tiling: chunks of queries against every word (about 64 MB of scores each)."""
    v = len(unit)
    chunk = (1 << 24) // v
    cand = np.arange(v, dtype=np.int32)

    def run() -> object:
        ids, sims = empty_lists(len(rows), K)
        buf = np.empty((chunk, v), np.float32) if reuse else None
        for s in range(0, len(rows), chunk):
            part = rows[s : s + chunk]
            if buf is None:
                scores = unit[part] @ unit.T
            else:
                scores = buf[: len(part)]
                np.matmul(unit[part], unit.T, out=scores)
            _offer_block(ids[s : s + len(part)], sims[s : s + len(part)], scores, cand, part.astype(np.int32))
        return ids, sims

    return run


def tiles(unit: np.ndarray, rows: np.ndarray, tile_rows: int, tile_candidates: int) -> Callable[[], object]:
    v = len(unit)
    cand = np.arange(v, dtype=np.int32)

    def run() -> object:
        ids, sims = empty_lists(len(rows), K)
        buf = np.empty((min(tile_rows, len(rows)), min(tile_candidates, v)), np.float32)
        for s in range(0, len(rows), tile_rows):
            e = min(s + tile_rows, len(rows))
            q = unit[rows[s:e]]
            for f in range(0, v, tile_candidates):
                last = min(f + tile_candidates, v)
                scores = buf[: e - s, : last - f]
                np.matmul(q, unit.T[:, f:last], out=scores)
                _offer_block(ids[s:e], sims[s:e], scores, cand[f:last], rows[s:e].astype(np.int32))
        return ids, sims

    return run


def main() -> None:
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(vec), size=10000, replace=False))  # bench.ann's words
    want = exact_neighbors(unit, rows, K)
    print(f"{len(vec)} words, dim {vec.dim}, 10,000 queries, top {K}; faiss {faiss.__version__}")
    print(f"{'variant':52s} {'median_s':>8s} {'faults':>8s}  same lists")
    variants: list[tuple[str, Callable[[], object]]] = [
        ("chunks of ~247 queries x every word, fresh arrays", chunks(unit, rows, reuse=False)),
        ("chunks of ~247 queries x every word, one buffer", chunks(unit, rows, reuse=True)),
    ]
    for shape in ((256, 2048), (1024, 1024), (1024, 4096), (2048, 1024), (4096, 1024), (4096, 512), (8192, 512)):
        variants.append((f"tiles of {shape[0]} queries x {shape[1]} words, one buffer", tiles(unit, rows, *shape)))
    variants.append(("exact_neighbors (the library: tiles of 4096 x 1024)", lambda: exact_neighbors(unit, rows, K)))
    for name, fn in variants:
        secs, faults, (ids, sims) = timed(fn)
        same = np.array_equal(ids, want[0]) and np.array_equal(sims, want[1])
        print(f"{name:52s} {secs:8.3f} {faults:8d}  {same}", flush=True)
    flat = faiss.IndexFlatIP(unit.shape[1])
    flat.add(unit)
    queries = np.ascontiguousarray(unit[rows])
    secs, faults, _ = timed(lambda: flat.search(queries, K + 1))
    print(f"{'faiss IndexFlatIP.search, k=11 (its own brute force)':52s} {secs:8.3f} {faults:8d}  -", flush=True)


if __name__ == "__main__":
    main()
