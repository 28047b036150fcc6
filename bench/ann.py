"""Approximate nearest neighbours against brute force on a model's vectors.

    python -m bench.ann --table /tmp/ann_w17 --model sgns --queries 10000 --out DIR [--compare] [--kinds hnsw,ivf]

Reads the model with delta-rs (``Vectors.from_table``), draws ``--queries``
words uniformly from the whole vocabulary (seeded), and measures:

* brute force, as embedpipe ships it: ``Vectors.neighbors(words, 10,
  exact=True)`` (one batch: blocks of queries times the whole matrix, a
  running top-10), and ``most_similar(word)`` called once per word;
* the index: ``Vectors.build_index(kind=...)`` (its build time, which
  includes measuring its search breadth) and ``Vectors.neighbors(words, 10,
  exact=False)``; with ``--kinds hnsw,ivf``, the HNSW graph and the
  inverted file in turn, each against its own brute-force timings;
* both as one DataFrame (``Vectors.neighbors_frame``), the batch answer
  without a Python object per pair;
* faiss's own brute force (``IndexFlatIP``) on the same words, for reference;
* both again as arrays, without the API's lists of (word, cosine):
  ``exact_neighbors`` against ``AnnIndex.search_rows``, the search three
  ways: right after brute force, after a pause, and repeated at once (warm);
* the frontier: recall@10 and array time at each search breadth the build
  chooses from, up to 128;
* recall@10: the share of each word's exact top 10 found in its
  approximate top 10, averaged over the queries.

``--compare`` first measures the three candidate libraries directly (faiss
HNSW and IVF, hnswlib, usearch) on the same unit vectors, queries and
threads: build time, batch query time and recall@10 at a few search
settings. That is how the index's library was chosen.

Brute force and the index are timed in alternation, ``--repeats`` times;
the speed-ups are the median of each repeat's ratio. Each timed call but
the "right after" and "warm" searches starts after ``--pause`` seconds of
sleep: after a matrix product OpenBLAS's threads keep spinning on the
cores for a while, and on a 2-core machine a search started at once ran
1.6x slower for it (bench/results/2026-12-05-ann-locality/). Writes ``DIR/results.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import EF_LADDER, recall_at_k
from embedpipe.vectors.ivf import PROBE_LADDER, InvertedFileIndex

TOPN = 10


def drop_self(ids: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` ids of each row other than the query row itself."""
    out = np.empty((len(rows), k), dtype=np.int64)
    for i, (r, found) in enumerate(zip(rows, ids, strict=True)):
        kept = [int(x) for x in found if x != r and x >= 0][:k]
        out[i, : len(kept)] = kept
        out[i, len(kept) :] = -1
    return out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


# ---- the candidate libraries, called directly ---------------------------------------------


def faiss_flat(unit: np.ndarray, threads: int | None) -> Any:
    """faiss's brute force over the unit rows (``IndexFlatIP``), on ``threads`` threads (None: all cores)."""
    import faiss

    if threads is not None:
        faiss.omp_set_num_threads(threads)
    flat = faiss.IndexFlatIP(unit.shape[1])
    flat.add(np.ascontiguousarray(unit, dtype=np.float32))
    return flat


def faiss_hnsw(unit: np.ndarray, threads: int, m: int = 32, efc: int = 200) -> tuple[Any, Callable]:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(unit.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = efc
    index.add(unit)

    def search(q: np.ndarray, k: int, ef: int) -> np.ndarray:
        index.hnsw.efSearch = ef
        return index.search(q, k)[1]

    return index, search


def faiss_ivf(unit: np.ndarray, threads: int, nlist: int = 1024) -> tuple[Any, Callable]:
    import faiss

    faiss.omp_set_num_threads(threads)
    quantizer = faiss.IndexFlatIP(unit.shape[1])
    index = faiss.IndexIVFFlat(quantizer, unit.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(unit)
    index.add(unit)

    def search(q: np.ndarray, k: int, nprobe: int) -> np.ndarray:
        index.nprobe = nprobe
        return index.search(q, k)[1]

    return index, search


def hnswlib_hnsw(unit: np.ndarray, threads: int, m: int = 32, efc: int = 200) -> tuple[Any, Callable]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=unit.shape[1])
    index.init_index(max_elements=unit.shape[0], ef_construction=efc, M=m)
    index.add_items(unit, np.arange(unit.shape[0]), num_threads=threads)

    def search(q: np.ndarray, k: int, ef: int) -> np.ndarray:
        index.set_ef(max(ef, k))
        return index.knn_query(q, k=k, num_threads=threads)[0]

    return index, search


def usearch_hnsw(unit: np.ndarray, threads: int, m: int = 32, efc: int = 200) -> tuple[Any, Callable]:
    from usearch.index import Index

    index = Index(ndim=unit.shape[1], metric="ip", dtype="f32", connectivity=m, expansion_add=efc)
    index.add(np.arange(unit.shape[0]), unit, threads=threads)

    def search(q: np.ndarray, k: int, ef: int) -> np.ndarray:
        index.expansion_search = ef
        return index.search(q, k, threads=threads).keys

    return index, search


CANDIDATES: dict[str, tuple[str, Callable, str, list[int]]] = {
    # name: (distribution, builder, search knob, knob values)
    "faiss HNSW (M=32, efC=200)": ("faiss-cpu", faiss_hnsw, "efSearch", [32, 64, 128, 256]),
    "faiss IVF-Flat (1024 lists)": ("faiss-cpu", faiss_ivf, "nprobe", [8, 16, 32, 64]),
    "hnswlib (M=32, efC=200)": ("hnswlib", hnswlib_hnsw, "ef", [32, 64, 128, 256]),
    "usearch (M=32, efC=200)": ("usearch", usearch_hnsw, "expansion_search", [32, 64, 128, 256]),
}


def compare(unit: np.ndarray, rows: np.ndarray, exact: np.ndarray, threads: int) -> list[dict[str, Any]]:
    out = []
    q = np.ascontiguousarray(unit[rows])
    for name, (dist, build, knob, values) in CANDIDATES.items():
        try:
            version = importlib.metadata.version(dist)
            (_, search), build_s = _timed(lambda b=build: b(unit, threads))
        except ImportError as e:
            out.append({"library": name, "error": str(e)})
            continue
        for v in values:
            found, secs = _timed(lambda s=search, v=v: s(q, TOPN + 1, v))
            r = recall_at_k(exact, drop_self(np.asarray(found), rows, TOPN))
            row = {"library": name, "version": version, "build_s": round(build_s, 2), knob: v,
                   "query_s": round(secs, 3), "recall@10": round(r, 4)}  # fmt: skip
            out.append(row)
            print(f"[ann] {json.dumps(row)}", file=sys.stderr, flush=True)
    return out


# ---- embedpipe's own API ---------------------------------------------------------------------------


def _fastest(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """``fn``'s value and its fastest of ``repeats`` timings (the machine's noise only ever adds time)."""
    value, best = None, float("inf")
    for _ in range(repeats):
        value, secs = _timed(fn)
        best = min(best, secs)
    return value, best


def measure(
    vec: Vectors, words: list[str], rows: np.ndarray, loop_words: int, repeats: int, pause: float,
    kind: Literal["hnsw", "ivf"] = "hnsw", target_recall: float = 0.96,
) -> dict[str, Any]:
    """Every series on ``vec``, which must have no index yet: its ``most_similar`` loop is brute force's."""
    if vec.index is not None:
        raise ValueError("measure needs Vectors without an index: its most_similar loop times brute force")
    res: dict[str, Any] = {"repeats": repeats, "pause_s": pause, "kind": kind, "target_recall": target_recall}
    vec.neighbors(words[:10], TOPN, exact=True)  # the unit rows, the word lookup, the compiled top-k
    unit = vec.unit()
    sample = words[:loop_words]
    _, loop_s = _timed(lambda: [vec.most_similar(w, topn=TOPN) for w in sample])
    res["most_similar_loop_words"] = len(sample)
    res["most_similar_loop_s"] = loop_s
    res["most_similar_loop_s_per_10000"] = loop_s * 10000 / len(sample)
    index, res["build_s"] = _timed(lambda: vec.build_index(kind=kind, target_recall=target_recall))
    res["index"] = index.describe()
    # Brute force and the index timed in alternation, so that a slower minute of the machine
    # lands on both: as the API answers (lists of (word, cosine)), as a DataFrame and as arrays. Each call but
    # two starts after a pause, so that it does not share the cores with threads the call before
    # left spinning. The two without: the search right after brute force (its BLAS threads still
    # spinning, as in a script that runs both back to back) and the search repeated at once
    # ("warm": its graph and vectors already in the caches, as in a session of many queries).
    timings: dict[str, list[float]] = {
        "exact_batch": [], "index_batch": [], "exact_frame": [], "index_frame": [],
        "exact_arrays": [], "index_arrays": [],
        "exact_arrays_before_index": [], "index_arrays_after_brute_force": [], "index_arrays_warm": [],
        "faiss_flat": [],
    }  # fmt: skip

    def quiet(fn: Callable[[], Any]) -> tuple[Any, float]:
        time.sleep(pause)
        return _timed(fn)

    # One untimed call of each: a first batch of 10,000 answers also grows Python's and numpy's
    # memory pools (measured: the index's first two API batches 0.14-0.15 s, the next three 0.10 s).
    vec.neighbors(words, TOPN, exact=True)
    vec.neighbors(words, TOPN, exact=False)
    vec.neighbors_frame(words, TOPN, exact=True)
    vec.neighbors_frame(words, TOPN, exact=False)
    exact_neighbors(unit, rows, TOPN)
    index.search_rows(rows, TOPN)
    # Another brute force for reference: faiss's exact inner-product search (blocked matrix
    # products and a heap per query), asked for one more than TOPN since each word finds itself.
    flat = faiss_flat(unit, index.threads)
    queries = np.ascontiguousarray(unit[rows])
    flat.search(queries, TOPN + 1)
    # The calls of one repeat, in groups whose order turns by one every repeat: each
    # series is timed at every position in turn, so that no series always follows the
    # same call. Each group is a list of (series, call, pause first); the calls without
    # a pause must follow the one before.
    latest: dict[str, Any] = {}
    groups: list[list[tuple[str, Callable[[], Any], bool]]] = [
        [("exact_batch", lambda: vec.neighbors(words, TOPN, exact=True), True),
         ("index_batch", lambda: vec.neighbors(words, TOPN, exact=False), True)],
        [("exact_frame", lambda: vec.neighbors_frame(words, TOPN, exact=True), True),
         ("index_frame", lambda: vec.neighbors_frame(words, TOPN, exact=False), True)],
        [("exact_arrays_before_index", lambda: exact_neighbors(unit, rows, TOPN), True),
         ("index_arrays_after_brute_force", lambda: index.search_rows(rows, TOPN), False)],
        [("exact_arrays", lambda: exact_neighbors(unit, rows, TOPN), True),
         ("index_arrays", lambda: index.search_rows(rows, TOPN), True),
         ("index_arrays_warm", lambda: index.search_rows(rows, TOPN), False)],
        [("faiss_flat", lambda: flat.search(queries, TOPN + 1), True)],
    ]  # fmt: skip
    for r in range(repeats):
        turn = r % len(groups)
        for group in groups[turn:] + groups[:turn]:
            for series, call, pause_first in group:
                latest[series], secs = quiet(call) if pause_first else _timed(call)
                timings[series].append(secs)
    exact, approx = latest["exact_batch"], latest["index_batch"]
    exact_ids, approx_ids = latest["exact_arrays"][0], latest["index_arrays"][0]
    for name, secs in timings.items():
        res[f"{name}_s"] = min(secs)
        res[f"{name}_all_s"] = [round(x, 4) for x in secs]
    for name, exact_name, index_name in (
        ("vs_exact_batch", "exact_batch", "index_batch"),
        ("frame", "exact_frame", "index_frame"),
        ("arrays", "exact_arrays", "index_arrays"),
        ("arrays_after_brute_force", "exact_arrays_before_index", "index_arrays_after_brute_force"),
        ("arrays_warm", "exact_arrays", "index_arrays_warm"),
        ("arrays_vs_faiss_flat", "faiss_flat", "index_arrays"),
    ):
        per_repeat = [e / i for e, i in zip(timings[exact_name], timings[index_name], strict=True)]
        res[f"speedup_{name}_per_repeat"] = [round(r, 2) for r in per_repeat]
        res[f"speedup_{name}"] = float(np.median(per_repeat))
    to_ids = {w: i for i, w in enumerate(vec.words)}
    e = np.array([[to_ids[w] for w, _ in hits] for hits in exact])
    a = np.array([[to_ids[w] for w, _ in hits] + [-1] * (TOPN - len(hits)) for hits in approx])
    res["recall@10"] = recall_at_k(e, a)
    res["recall@10_arrays"] = recall_at_k(exact_ids, approx_ids)
    scale = len(words) / 10000
    res["speedup_vs_most_similar_loop"] = res["most_similar_loop_s_per_10000"] / res["index_batch_s"] * scale
    # Recall against speed over the search breadths the build chooses from, warm, against the fastest brute force:
    # the graph's ef_search, the inverted file's probes.
    breadth, ladder = ("ef_search", EF_LADDER) if kind == "hnsw" else ("probes", PROBE_LADDER)
    searched = index
    if isinstance(index, InvertedFileIndex):
        # The same lists (same seed), each word's ranked to the frontier's widest at build, as the index keeps
        # them to its own: no point pays for ranking them again.
        searched = InvertedFileIndex.build(unit, lists=index.lists, probes=min(128, index.lists), threads=index.threads)
    chosen = getattr(searched, breadth)
    frontier = []
    for width in [e for e in ladder if e <= 128]:
        setattr(searched, breadth, width)
        (ids, _), secs = _fastest(lambda: searched.search_rows(rows, TOPN), repeats)
        point = {breadth: width, "arrays_s": round(secs, 4), "recall@10": round(recall_at_k(exact_ids, ids), 4),
                 "speedup_arrays": round(res["exact_arrays_s"] / secs, 2)}  # fmt: skip
        frontier.append(point)
        print(f"[ann] {json.dumps(point)}", file=sys.stderr, flush=True)
    setattr(searched, breadth, chosen)
    res["frontier"] = frontier
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", required=True, help="output.path of a run (or its vectors table)")
    ap.add_argument("--model", default="sgns")
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--loop-words", type=int, default=2000, help="words of the most_similar loop (timed, scaled)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="alternating timings of brute force and the index")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of sleep before each timed call")
    ap.add_argument("--compare", action="store_true", help="also measure the candidate libraries directly")
    ap.add_argument("--kinds", default="hnsw", help="comma list of Vectors.build_index kinds to measure: hnsw, ivf")
    ap.add_argument("--target-recall", type=float, default=0.96, help="the recall@10 each index's build calibrates to")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    threads = os.cpu_count() or 1
    vec, load_s = _timed(lambda: Vectors.from_table(args.table, args.model))
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(len(vec), size=min(args.queries, len(vec)), replace=False))
    words = [vec.words[r] for r in rows]
    results: dict[str, Any] = {
        "command": "python -m bench.ann " + " ".join(argv or sys.argv[1:]),
        "cores": os.cpu_count(),
        "vocab": len(vec),
        "dim": vec.dim,
        "queries": len(words),
        "load_s": round(load_s, 2),
    }
    if args.compare:
        unit = vec.unit()
        (exact, _), exact_s = _timed(lambda: exact_neighbors(unit, rows, TOPN))
        results["compare_exact_s"] = round(exact_s, 3)
        results["compare"] = compare(unit, rows, exact.astype(np.int64), threads)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    kinds = args.kinds.split(",")
    if not set(kinds) <= {"hnsw", "ivf"}:
        ap.error(f"--kinds takes hnsw and ivf, got {args.kinds!r}")
    results["indexes"] = {}
    for i, kind in enumerate(kinds):
        fresh = vec if i == 0 else Vectors.from_table(args.table, args.model)  # no index: the loop is brute force
        results["indexes"][kind] = measure(
            fresh, words, rows, args.loop_words, args.repeats, args.pause, kind, args.target_recall  # type: ignore[arg-type]
        )
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    results["embedpipe"] = results["indexes"][kinds[0]]  # the first kind's, where earlier reports kept the one
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
