"""Vectors against gensim's KeyedVectors on one trained model, and the CLI's query time.

Issue 27's bars, on the vectors of a wiki17m run:

- ``Vectors.most_similar`` returns gensim's top 10 for the same vectors
  (read by gensim from the file ``Vectors.save`` writes);
- ``Vectors.evaluate`` on that file (what ``embedpipe import`` then
  ``evaluate`` score) gives gensim's ``evaluate_word_pairs`` and
  ``evaluate_word_analogies`` figures within 0.002;
- ``embedpipe neighbors`` answers from a fresh process in under 2 s.

Usage::

    python -m bench.api_parity --conf conf/wiki17m.yaml --table /tmp/ann_w17 --model sgns --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from embedpipe import Vectors

EVAL = Path(__file__).resolve().parents[1] / "embedpipe" / "data" / "eval"


def top10_agreement(ours: Vectors, kv, words: list[str]) -> dict:
    """How many words get the same top-10 list (same words, same order) and the largest cosine gap."""
    same_lists, same_sets, gap = 0, 0, 0.0
    for w in words:
        a = ours.most_similar(w, topn=10)
        b = kv.most_similar(w, topn=10)
        same_lists += [x for x, _ in a] == [x for x, _ in b]
        same_sets += {x for x, _ in a} == {x for x, _ in b}
        gap = max(gap, max(abs(s - t) for (_, s), (_, t) in zip(a, b, strict=True)))
    return {"words": len(words), "same_list": same_lists, "same_set": same_sets, "max_cosine_gap": gap}


def evaluation_gaps(ours: Vectors, kv) -> dict:
    """Our shipped-set scores beside gensim's own functions on the same files."""
    mine = ours.evaluate(restrict_vocab=30000)
    out = {}
    for name, fname in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        _, spearman, oov = kv.evaluate_word_pairs(str(EVAL / fname), delimiter="\t")
        out[name] = {"embedpipe": mine[name]["spearman"], "gensim": float(spearman.statistic), "gensim_oov_%": oov}
    accuracy, _ = kv.evaluate_word_analogies(str(EVAL / "questions-words.txt"), restrict_vocab=30000)
    out["google_analogy"] = {"embedpipe": mine["google_analogy"]["accuracy"], "gensim": float(accuracy)}
    for v in out.values():
        v["gap"] = abs(v["embedpipe"] - v["gensim"])
    return out


def cli_query_seconds(conf: str, table: str, model: str, word: str, repeats: int) -> list[float]:
    """Wall time of ``embedpipe neighbors`` from a new process, each time."""
    cmd = [str(Path(sys.executable).with_name("embedpipe")), "neighbors", conf, "--set", f"output.path={table}",
           "--model", model, word, "-k", "10"]  # fmt: skip
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
        times.append(time.perf_counter() - t)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conf", required=True, help="the run's config (for the CLI query)")
    ap.add_argument("--table", required=True, help="output.path of the run (its vectors table)")
    ap.add_argument("--model", default="sgns")
    ap.add_argument("--words", type=int, default=500, help="query words: the most frequent half, a random half")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from gensim.models import KeyedVectors

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ours = Vectors.from_table(args.table, model=args.model)
    load_s = time.perf_counter() - t
    path = out / f"{args.model}.bin"
    ours.save(path, "word2vec-binary")
    kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    imported = Vectors.load(path, "word2vec-binary")  # what `embedpipe import` reads
    rng = np.random.default_rng(1)
    half = args.words // 2
    words = ours.words[:half] + [ours.words[i] for i in rng.choice(len(ours.words), args.words - half, replace=False)]
    result = {
        "table": args.table,
        "model": args.model,
        "vocab": len(ours.words),
        "from_table_seconds": round(load_s, 2),
        "top10": top10_agreement(ours, kv, words),
        "evaluation": evaluation_gaps(imported, kv),
        "cli_neighbors_seconds": [round(x, 2) for x in cli_query_seconds(args.conf, args.table, args.model,
                                                                        "france", args.repeats)],
        "cores": os.cpu_count(),
    }  # fmt: skip
    path.unlink()
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
