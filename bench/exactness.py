"""Exactness and stage timings on a real corpus, against independent references.

    python -m bench.exactness --corpus ../shared/corpus/wiki17m.txt.gz --out bench/out-exact

1. ingest + vocab at min_count 5 with the text8 preset, compared word for word
   and count for count with a plain whitespace count of the file;
2. cooccur (window 10, harmonic) compared with the figures Stanford GloVe's
   C tool gives on wiki17m at the same settings (45,944,371 non-zero entries,
   total weight 97,824,450.1, measured on a 2-core machine: 18.2 s
   single-threaded); the only expected difference is the pairs lost at the
   10,000-token piece boundaries of the one-line corpus;
3. gensim's ``build_vocab`` on the same file, timed in the same run, against
   ingest + vocab (the same work: tokens counted, vocabulary kept) and
   against ingest + vocab + encode (the corpus written as ids as well).

``--glove-c DIR`` runs Stanford GloVe's ``vocab_count`` and ``cooccur``,
built by hand from its public source into DIR (never committed here), on the
same corpus in the same run, and compares against those figures instead of
the fixed ones below: ``make`` in a checkout of stanfordnlp/GloVe, then
``--glove-c path/to/GloVe/build``.

``--warm`` also times the same stages in a second fresh process whose session
first ran them on the shipped sample: the cold run pays Spark's and Delta's
first-use costs (class loading, JIT, the first Delta commit) inside its
first stage, a long-lived session does not.

Writes ``OUT/exactness.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.run import DEFAULT_CORPUS, REPO, measure

ENCODED = ("ingest", "vocab", "encode")
GLOVE_C_WIKI17M = {"nnz": 45_944_371, "total_weight": 97_824_450.1, "seconds_single_thread": 18.2}


def whitespace_counts(corpus: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rt", encoding="utf-8") as fh:
        for line in fh:
            counts.update(line.split())
    return counts


def glove_c_cooccur(build: Path, corpus: Path, min_count: int, window: int) -> dict[str, Any]:
    """Stanford GloVe's ``cooccur`` on ``corpus``, timed alone (its vocabulary
    and the decompressed input are made first, untimed): nnz, total weight
    and seconds."""
    work = Path(tempfile.mkdtemp(prefix="embedpipe-glove-c-"))
    try:
        text = work / "corpus.txt"
        opener = gzip.open if corpus.suffix == ".gz" else open
        with opener(corpus, "rb") as src, open(text, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 24)
        with open(text, "rb") as fin, open(work / "vocab.txt", "wb") as fout:
            subprocess.run([str(build / "vocab_count"), "-min-count", str(min_count), "-verbose", "0"],
                           stdin=fin, stdout=fout, check=True)  # fmt: skip
        out = work / "cooccur.bin"
        with open(text, "rb") as fin, open(out, "wb") as fout:
            t0 = time.perf_counter()
            subprocess.run(
                [str(build / "cooccur"), "-memory", "4.0", "-vocab-file", str(work / "vocab.txt"), "-verbose", "0",
                 "-window-size", str(window), "-symmetric", "1"],
                stdin=fin, stdout=fout, check=True, cwd=work,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
        import numpy as np

        # cooccur.c writes CREC records: int word1, int word2, double val.
        records = np.fromfile(out, dtype=np.dtype([("i", "<i4"), ("j", "<i4"), ("x", "<f8")]))
        return {"nnz": int(len(records)), "total_weight": float(records["x"].sum()), "seconds_single_thread": seconds,
                "measured": "same run"}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out-exact")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--stages", default="ingest,vocab,encode,cooccur")
    ap.add_argument("--skip-gensim", action="store_true")
    ap.add_argument("--warm", action="store_true", help="also time the stages in a warmed-up session")
    ap.add_argument(
        "--glove-c", type=Path, default=None,
        help="build folder of Stanford GloVe (vocab_count, cooccur): time its cooccur in this run",
    )  # fmt: skip
    ap.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="a config override for the embedpipe runs, e.g. cooccur.memory_mb=2048 (repeatable)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    tables_dir = args.out / "tables"
    over = [
        f"input.path={corpus}", f"output.path={tables_dir}", "clean.preset=text8", f"stages=[{args.stages}]",
        f"vocab.min_count={args.min_count}", "spark.master=local[2]", "spark.partitions=2",
        "spark.driver_memory=12g", "cooccur.window=10", "cooccur.weighting=harmonic", *args.set,
    ]  # fmt: skip
    report: dict[str, Any] = {"corpus": str(corpus), "overrides": args.set}
    t0 = time.perf_counter()
    r = measure("embedpipe", {"conf": str(REPO / "conf" / "demo.yaml"), "overrides": over})
    if "error" in r:
        print(r["error"], file=sys.stderr)
        return 1
    report["embedpipe_wall_s"] = round(time.perf_counter() - t0, 1)
    report["stages"] = {
        s["stage"]: {"seconds": s["seconds"], "rows": s["rows"], "stats": s["stats"]} for s in r["summary"]["stages"]
    }
    if args.warm:
        w = measure("embedpipe_warm", {"conf": str(REPO / "conf" / "demo.yaml"), "overrides": over, "force": True})
        if "error" in w:
            print(w["error"], file=sys.stderr)
            return 1
        report["warm"] = {
            "warm_up_seconds": w["warm_up_seconds"],
            "stages": {s["stage"]: s["seconds"] for s in w["summary"]["stages"]},
            "stats": {s["stage"]: s["stats"] for s in w["summary"]["stages"]},
        }

    if "vocab" in args.stages:
        from embedpipe.config import SparkConfig
        from embedpipe.session import build_local_session
        from embedpipe.tables import read

        spark = build_local_session(SparkConfig(master="local[2]", driver_memory="8g"))
        ours = {row["word"]: row["count"] for row in read(spark, str(tables_dir), "vocab").collect()}
        spark.stop()
        ref = {w: c for w, c in whitespace_counts(corpus).items() if c >= args.min_count}
        diff = [w for w in set(ours) | set(ref) if ours.get(w) != ref.get(w)]
        report["vocab"] = {
            "ours": len(ours),
            "whitespace_count": len(ref),
            "differences": len(diff),
            "examples": diff[:10],
        }
    if "cooccur" in args.stages:
        st = report["stages"]["cooccur"]["stats"]
        c_ref: dict[str, Any] = {**GLOVE_C_WIKI17M, "measured": "fixed reference (wiki17m, 2-core machine)"}
        if args.glove_c is not None:
            c_ref = glove_c_cooccur(args.glove_c.resolve(), corpus, args.min_count, 10)
        report["glove_c_cooccur"] = c_ref
        report["cooccur"] = {
            "nnz": st["nnz"],
            "total_weight": st["total_weight"],
            "seconds": report["stages"]["cooccur"]["seconds"],
            "nnz_vs_glove_c": st["nnz"] / c_ref["nnz"] - 1,
            "weight_vs_glove_c": st["total_weight"] / c_ref["total_weight"] - 1,
            "time_vs_glove_c": report["stages"]["cooccur"]["seconds"] / c_ref["seconds_single_thread"],
        }
    if not args.skip_gensim:
        g = measure("gensim_build_vocab", {"corpus": str(corpus), "min_count": args.min_count})
        report["gensim_build_vocab"] = g
        if g.get("seconds"):
            # ingest + vocab is what build_vocab does; encode (the corpus as
            # ids) has no counterpart there, so it is a second reading.
            sessions = [("", {k: v["seconds"] for k, v in report["stages"].items()})]
            if "warm" in report:
                sessions.append(("warm_", report["warm"]["stages"]))
            for prefix, seconds in sessions:
                for key, names in (("ingest_vocab", ("ingest", "vocab")), ("ingest_vocab_encode", ENCODED)):
                    if all(s in seconds for s in names):
                        ours_s = sum(seconds[s] for s in names)
                        report[f"{prefix}{key}_vs_gensim_build_vocab"] = ours_s / g["seconds"]
    (args.out / "exactness.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({k: v for k, v in report.items() if k != "stages"}, indent=2, default=str))
    print(json.dumps({k: v["seconds"] for k, v in report["stages"].items()}))
    print(ratio_table(report))
    return 0


def ratio_table(report: dict[str, Any]) -> str:
    """Our stages' time over gensim's build_vocab: ingest + vocab (what
    build_vocab does), and ingest + vocab + encode; in a fresh and in a
    warmed session."""
    counting = "ingest_vocab_vs_gensim_build_vocab"
    encoded = "ingest_vocab_encode_vs_gensim_build_vocab"
    rows = [("fresh session", counting, encoded), ("warmed session", f"warm_{counting}", f"warm_{encoded}")]

    def cell(key: str) -> str:
        return f"{report[key]:.2f}x" if report.get(key) else "-"

    lines = ["time / gensim build_vocab      ingest + vocab   + encode"]
    lines += [f"{name:<30}{cell(count):>15}{cell(full):>11}" for name, count, full in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
