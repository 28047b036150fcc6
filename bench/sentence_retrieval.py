"""Paragraph-half retrieval: do a paragraph's two halves find each other? (issue 28's check of ``embed``)

No outside data: N paragraphs of at least ``--min-tokens`` tokens are taken
from a one-paragraph-per-line file (by default the LAST N such lines of
``wiki70m_lines``, which lie beyond the 17M words that ``wiki17m`` holds, so
the vectors never saw them). Each is cut into its first and second half (by
whitespace tokens). All 2N halves are embedded by the embed stage on Spark
(``embedpipe.embed.run``, the product's own path) with each method, mean,
tfidf and sif; then each first half ranks the N second halves by cosine.
Top-1 accuracy is the share that ranks its own second half first; MRR the
mean of 1 / that rank. A half without a known word has no vector and ranks
last.

The halves are cleaned with the clean options of the run that trained the
vectors (read from its ``tokens`` table's metadata), as ``embed`` would be
configured for those vectors.

Usage::

    python -m bench.sentence_retrieval --vectors RUN_FOLDER --model sgns --out DIR \\
        [--texts ../shared/corpus/wiki70m_lines.txt.gz] [--n 1000] [--min-tokens 20] [--conf conf/demo.yaml]

Writes ``DIR/report.md`` and ``DIR/results.json`` (with the command).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = REPO.parent / "shared" / "corpus" / "wiki70m_lines.txt.gz"
METHODS = ("mean", "tfidf", "sif")


def held_out_paragraphs(path: str, n: int, min_tokens: int) -> tuple[list[str], int]:
    """The last ``n`` lines of at least ``min_tokens`` whitespace tokens, and how many lines qualified."""
    opener = gzip.open if str(path).endswith(".gz") else open
    last: collections.deque[str] = collections.deque(maxlen=n)
    qualifying = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
        for line in fh:
            if len(line.split()) >= min_tokens:
                last.append(line.strip())
                qualifying += 1
    return list(last), qualifying


def halves(paragraph: str) -> tuple[str, str]:
    tokens = paragraph.split()
    cut = len(tokens) // 2
    return " ".join(tokens[:cut]), " ".join(tokens[cut:])


def retrieval(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and MRR of each first half ranking its own second half among all second halves.

    A row of NaN (no vector) scores -inf against everything: as a query it
    finds nothing; as a candidate it ranks last.
    """

    def unit(x: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.where(np.isnan(x).any(axis=1, keepdims=True) | (norms == 0), np.nan, x / np.maximum(norms, 1e-30))

    sims = np.nan_to_num(unit(first) @ unit(second).T, nan=-np.inf)
    own = np.diag(sims)
    # rank 1 + the candidates that score strictly higher; a query without a vector ranks its pair last
    rank = 1 + (sims > own[:, None]).sum(axis=1)
    rank = np.where(np.isneginf(own), len(second), rank)
    return {"top1": float(np.mean(rank == 1)), "mrr": float(np.mean(1.0 / rank)), "median_rank": float(np.median(rank))}


def clean_overrides(spark, vectors_root: str) -> tuple[list[str], dict]:  # type: ignore[no-untyped-def]
    """``--set clean.*`` of the run that trained the vectors (its ingest's config), if the run kept it."""
    from embedpipe import tables

    meta = tables.latest_metadata(spark, vectors_root, "tokens", stage="ingest") or {}
    clean = (meta.get("config") or {}).get("clean") or {}
    return [f"clean.{k}={json.dumps(v)}" for k, v in clean.items()], clean


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", default=str(DEFAULT_TEXTS), help="one paragraph per line (.gz ok)")
    ap.add_argument("--vectors", required=True, help="run folder holding the vectors (and vocab) tables")
    ap.add_argument("--model", default="sgns")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1000, help="paragraphs (candidates per query)")
    ap.add_argument("--min-tokens", type=int, default=20)
    ap.add_argument("--conf", default=str(REPO / "conf" / "demo.yaml"), help="config of the Spark session")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args(argv)

    from embedpipe import embed
    from embedpipe.cli import configure_logging
    from embedpipe.config import load_config
    from embedpipe.session import get_session

    configure_logging()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    vectors = str(Path(args.vectors).resolve()) if "://" not in args.vectors else args.vectors

    t0 = time.perf_counter()
    paragraphs, qualifying = held_out_paragraphs(args.texts, args.n, args.min_tokens)
    if len(paragraphs) < 2:
        raise SystemExit(f"{args.texts}: only {len(paragraphs)} lines of >= {args.min_tokens} tokens")
    n = len(paragraphs)
    rows = [(i, h, text) for i, p in enumerate(paragraphs) for h, text in zip(("first", "second"), halves(p),
                                                                              strict=True)]  # fmt: skip
    halves_path = out / "halves.parquet"
    pq.write_table(pa.table({"para": [r[0] for r in rows], "half": [r[1] for r in rows], "text": [r[2] for r in rows]}),
                   halves_path)  # fmt: skip
    read_seconds = time.perf_counter() - t0

    base = load_config(args.conf)
    spark = get_session(base.spark)
    clean_sets, clean = clean_overrides(spark, vectors)
    results: dict[str, dict] = {}
    for method in args.methods.split(","):
        cfg = load_config(args.conf, [
            f"output.path={out / 'run'}", f"embed.vectors={vectors}", f"embed.model={args.model}",
            f"embed.input={halves_path}", "embed.format=parquet", "embed.key_columns=[para, half]",
            f"embed.method={method}", *clean_sets,
        ])  # fmt: skip
        result = embed.run(spark, cfg)
        t = spark.read.format("delta").load(str(out / "run" / "doc_vectors")).toPandas()
        dim = result.stats["dim"]
        first = np.full((n, dim), np.nan)
        second = np.full((n, dim), np.nan)
        for para, half, vec in zip(t["para"], t["half"], t["vector"], strict=True):
            if vec is not None:
                (first if half == "first" else second)[para] = np.asarray(vec, dtype=np.float64)
        score = retrieval(first, second)
        score.update(
            seconds=round(result.seconds, 1),
            halves_without_vector=result.stats["texts_without_known_words"],
            known_tokens=round(result.stats["tokens_used"] / max(result.stats["tokens"], 1), 4),
        )
        results[method] = score
        print(f"{method:6} top1 {score['top1']:.3f}  mrr {score['mrr']:.3f}  ({score['seconds']} s)", flush=True)

    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bench.sentence_retrieval", *sys.argv[1:]])
    summary = {
        "command": command, "texts": str(args.texts), "paragraphs": n, "qualifying_lines": qualifying,
        "min_tokens": args.min_tokens, "vectors": vectors, "model": args.model, "clean": clean,
        "read_seconds": round(read_seconds, 1), "results": results,
    }  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report(summary), encoding="utf-8")
    print(f"wrote {out / 'report.md'}")
    return 0


def report(s: dict) -> str:
    lines = [
        "# Paragraph-half retrieval",
        "",
        f"{s['paragraphs']} paragraphs of at least {s['min_tokens']} tokens: the last {s['paragraphs']} of the "
        f"{s['qualifying_lines']} such lines of `{s['texts']}`. Each paragraph is cut into two halves by tokens; "
        "all halves are embedded by the embed stage on Spark, and each first half ranks the "
        f"{s['paragraphs']} second halves by cosine.",
        "",
        f"Vectors: model `{s['model']}` of `{s['vectors']}`; the halves are cleaned with that run's clean options "
        f"(`{json.dumps(s['clean'])}`).",
        "",
        "| method | top-1 accuracy | MRR | median rank | halves without a vector | known tokens | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, r in s["results"].items():
        lines.append(
            f"| {m} | {r['top1']:.3f} | {r['mrr']:.3f} | {r['median_rank']:g} | {r['halves_without_vector']} "
            f"| {r['known_tokens']:.1%} | {r['seconds']} |"
        )
    lines += ["", "Command:", "", "```", s["command"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
