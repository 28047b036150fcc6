"""The driver's memory against the vocabulary: skip-gram on synthetic corpora.

    python -m bench.driver_memory --vocab 100000,5000000 --out DIR

For each vocabulary size V it writes a corpus in which every one of V
distinct words occurs at least once, plus ``--extra-tokens-per-word`` × V
draws from a Zipf law over the same words, in lines of 1,000 tokens and a
seeded random order. Then it runs ``embedpipe run`` on it from a fresh
process with default settings except ``vocab.min_count=1`` (every word is
kept), ``--epochs`` and the stages ingest, vocab, encode, sgns and
evaluate, and reads each stage's summary: its time, the distribution the
trainer chose, and the driver's Python peak RSS (the process's own, not the
JVM's). The issue's bar: the 5M-word run's driver peak is at most 300 MB
above the 100k-word run's.

Writes ``DIR/results.json`` and ``DIR/report.md``; the corpora go to
``--work`` (default: a temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LINE = 1000


def synthetic_corpus(path: Path, vocab: int, extra_per_word: float, seed: int) -> int:
    """Write the corpus; its token count. Words are ``w<rank>``; rank 0 is the most frequent."""
    rng = np.random.default_rng(seed)
    extra = int(extra_per_word * vocab)
    # Zipf over ranks 1..vocab (s = 1.05), drawn through the inverse CDF so
    # no draw falls outside the vocabulary.
    weights = 1.0 / np.arange(1, vocab + 1, dtype=np.float64) ** 1.05
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    draws = np.searchsorted(cdf, rng.random(extra), side="right")
    tokens = np.concatenate([np.arange(vocab, dtype=np.int64), np.minimum(draws, vocab - 1)])
    rng.shuffle(tokens)
    with open(path, "w", encoding="ascii") as fh:
        for start in range(0, len(tokens), LINE):
            fh.write(" ".join(f"w{t}" for t in tokens[start : start + LINE]))
            fh.write("\n")
    return len(tokens)


def run_pipeline(corpus: Path, out: Path, epochs: int) -> dict[str, Any]:
    # The product's defaults, but for what the bar fixes: every word kept, and
    # the stages of the skip-gram pipeline.
    conf = out.parent / f"{out.name}.yaml"
    conf.write_text(
        json.dumps({
            "input": {"path": str(corpus)}, "output": {"path": str(out)}, "vocab": {"min_count": 1},
            "sgns": {"epochs": epochs}, "stages": ["ingest", "vocab", "encode", "sgns", "evaluate"],
            "eval": {"models": ["sgns"]},
        })  # JSON is YAML
    )  # fmt: skip
    cmd = [sys.executable, "-m", "embedpipe.cli", "run", str(conf), "--json", "-q"]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, cwd=REPO)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr, flush=True)
        return {"error": done.stderr[-3000:], "seconds": seconds}
    summary = json.loads(done.stdout)
    stages = {s["stage"]: s for s in summary["stages"]}
    sgns = stages["sgns"]["stats"]
    return {
        "seconds": round(seconds, 1),
        "vocab_size": stages["vocab"]["rows"],
        "distribution": sgns.get("distribution"),
        "stage_seconds": {k: v["seconds"] for k, v in stages.items()},
        "driver_python_peak_mb": max(s["stats"].get("driver_peak_rss_mb", 0.0) for s in summary["stages"]),
        "driver_peak_by_stage_mb": {k: v["stats"].get("driver_peak_rss_mb") for k, v in stages.items()},
        "moved_mb_per_epoch": sgns.get("moved_mb_per_epoch"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", default="100000,5000000", help="comma list of distinct words per corpus")
    ap.add_argument("--extra-tokens-per-word", type=float, default=1.0, help="Zipf draws beyond each word's one")
    ap.add_argument("--epochs", type=int, default=5, help="sgns.epochs (the product's default is 5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="folder for corpora and tables (default: temporary)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="embedpipe-driver-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": "python -m bench.driver_memory " + " ".join(argv or sys.argv[1:]),
                               "cores": os.cpu_count(), "runs": {}}  # fmt: skip
    try:
        for v in [int(x) for x in args.vocab.split(",")]:
            corpus = work / f"synthetic_{v}.txt"
            tokens = synthetic_corpus(corpus, v, args.extra_tokens_per_word, args.seed)
            print(f"[driver_memory] {v} words, {tokens} tokens: running", file=sys.stderr, flush=True)
            r = run_pipeline(corpus, work / f"out_{v}", args.epochs)
            r["tokens"] = tokens
            results["runs"][str(v)] = r
            (args.out / "results.json").write_text(json.dumps(results, indent=2))
            print(f"[driver_memory] {v}: {json.dumps(r)}", file=sys.stderr, flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    runs = results["runs"]
    md = [
        "# Driver memory against the vocabulary (skip-gram pipeline)",
        "",
        f"{results['cores']} cores. Command: `{results['command']}`.",
        "",
        "| distinct words | tokens | vocab | sgns distribution | sgns s | whole run s | driver Python peak MB |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for v, r in runs.items():
        if "error" in r:
            md.append(f"| {v} | {r.get('tokens', '—')} | failed | | | {r['seconds']:.0f} | |")
            continue
        md.append(
            f"| {v} | {r['tokens']:,} | {r['vocab_size']:,} | {r['distribution']} | {r['stage_seconds']['sgns']:.0f} "
            f"| {r['seconds']:.0f} | {r['driver_python_peak_mb']:.0f} |"
        )
    peaks = [r.get("driver_python_peak_mb") for r in runs.values()]
    if len(peaks) >= 2 and None not in peaks:
        gap = peaks[-1] - peaks[0]
        md += ["", f"Last minus first vocabulary's driver peak: **{gap:+.0f} MB** (bar: at most +300 MB)."]
    (args.out / "report.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if any("error" in r for r in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
