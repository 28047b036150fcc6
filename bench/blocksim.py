"""One-process simulation of a block-rotated (DSGD) skip-gram schedule.

    python -m bench.blocksim --corpus ../shared/corpus/wiki17m.txt.gz \\
        --blocks 1,8,32,128 --negatives routed,restricted --epochs 5 --seed 1 --out DIR

Measures, in one run and on one thread each (set ``NUMBA_NUM_THREADS=1``):

* gensim ``Word2Vec`` (sg=1, ``workers=1``: one training thread) with the
  same settings, as the quality reference; its vocabulary (min_count) is the
  one every other run uses, so ids, subsampling and noise tables are shared;
* the project's sequential kernel :func:`embedpipe.kernels.sgns.sgns_train_chunk`
  over the whole corpus, one call per epoch (``--no-sequential`` skips it);
* the block schedule of :mod:`embedpipe.kernels.blocks` for every
  ``(negatives, blocks)`` combination, plus ``--extra variant:P:seed[:rounds]``
  runs (``rounds``: the epoch's pairs cut into that many consecutive parts,
  each trained through all ``P`` sub-epochs; default ``--rounds``, 1).

Every model's input vectors are scored by :func:`embedpipe.evaluate.scoring.score_vectors`
(the project's bench protocol).  ``OUT/results.json`` and ``OUT/report.md``
are rewritten after every run, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.child import sentences

PIECE = 10_000
METRICS = (("analogy", "google_analogy", "accuracy"), ("wordsim353", "wordsim353", "spearman"),
           ("simlex999", "simlex999", "spearman"))  # fmt: skip
# The engine's quality bar against gensim (most it may score under it).
BAR = {"analogy": 0.01, "wordsim353": 0.02, "simlex999": 0.02}


def load_pieces(corpus: Path, words: int | None) -> list[list[str]]:
    pieces: list[list[str]] = []
    left = words if words else None
    for piece in sentences(str(corpus), PIECE):
        if left is not None:
            if left <= 0:
                break
            piece = piece[:left]
            left -= len(piece)
        pieces.append(piece)
    return pieces


def flat_scores(scores: dict[str, dict[str, Any]]) -> dict[str, float]:
    out = {name: float(scores[key][field]) for name, key, field in METRICS}
    out["analogy_semantic"] = float(scores["google_analogy"]["semantic"])
    out["analogy_syntactic"] = float(scores["google_analogy"]["syntactic"])
    out["analogy_answered"] = int(scores["google_analogy"]["answered"])
    return out


def alpha_at(progress: float, a0: float, a1: float) -> float:
    return a0 + (a1 - a0) * progress


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--words", type=int, default=0, help="use only the first N tokens (0: all)")
    ap.add_argument("--blocks", default="1,8,32,128")
    ap.add_argument("--negatives", default="routed,restricted")
    ap.add_argument("--extra", default="", help="more runs, comma-separated variant:P:seed[:rounds]")
    ap.add_argument("--rounds", type=int, default=1, help="parts of each epoch, each run through all P sub-epochs")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-4)
    ap.add_argument("--alpha", type=float, default=0.025)
    ap.add_argument("--min-alpha", type=float, default=0.0001)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--no-gensim", action="store_true")
    ap.add_argument("--no-sequential", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from gensim.models import Word2Vec

    from embedpipe.evaluate.scoring import score_vectors
    from embedpipe.kernels.blocks import derive_seed, simulate_epoch
    from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_chunk
    from embedpipe.kernels.subsampling import keep_probabilities

    command = "python -m bench.blocksim " + shlex.join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {
        "dim": args.dim, "window": args.window, "negative": args.negative, "sample": args.sample,
        "epochs": args.epochs, "alpha": args.alpha, "min_alpha": args.min_alpha, "min_count": args.min_count,
    }  # fmt: skip
    runs_spec: list[tuple[str, int, int, int]] = []
    for v in [x for x in args.negatives.split(",") if x]:
        for p in [int(x) for x in args.blocks.split(",") if x]:
            runs_spec.append((v, p, args.seed, args.rounds))
    for item in [x for x in args.extra.split(",") if x]:
        v, p, s, *r = item.split(":")
        runs_spec.append((v, int(p), int(s), int(r[0]) if r else args.rounds))

    result: dict[str, Any] = {
        "command": command,
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "corpus": str(args.corpus),
        "settings": settings,
        "threads": {"NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"), "gensim_workers": 1},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": [],
    }

    def save() -> None:
        (args.out / "results.json").write_text(json.dumps(result, indent=2, default=float))
        (args.out / "report.md").write_text(render_report(result))

    t = time.perf_counter()
    pieces = load_pieces(args.corpus, args.words)
    raw_words = sum(len(p) for p in pieces)
    model = Word2Vec(
        vector_size=args.dim, window=args.window, negative=args.negative, sample=args.sample, sg=1, hs=0,
        alpha=args.alpha, min_alpha=args.min_alpha, min_count=args.min_count, workers=1, seed=args.seed,
    )  # fmt: skip
    model.build_vocab(pieces)
    words = list(model.wv.index_to_key)
    index = model.wv.key_to_index
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    encoded = [np.array([index[w] for w in p if w in index], dtype=np.int32) for p in pieces]
    ids = np.concatenate(encoded)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    del encoded
    keep_prob = keep_probabilities(counts, args.sample).astype(np.float32)
    noise_cdf = build_noise_cdf(counts)
    V = len(words)
    result.update({"raw_words": raw_words, "in_vocab_words": int(len(ids)), "vocab": V,
                   "prepare_s": time.perf_counter() - t})  # fmt: skip
    print(f"{args.corpus.name}: {raw_words:,} words, {len(ids):,} in vocab, vocab {V:,}", flush=True)

    def record(row: dict[str, Any], vectors: np.ndarray) -> None:
        t0 = time.perf_counter()
        row["scores"] = flat_scores(score_vectors(words, vectors))
        row["score_s"] = time.perf_counter() - t0
        result["runs"].append(row)
        save()
        s = row["scores"]
        print(f"  -> {row['name']}: analogy {s['analogy']:.4f} WS {s['wordsim353']:.4f} "
              f"SL {s['simlex999']:.4f} in {row['seconds']:.1f} s", flush=True)  # fmt: skip

    if not args.no_gensim:
        print("gensim sg, workers=1 ...", flush=True)
        t0 = time.perf_counter()
        model.train(pieces, total_examples=len(pieces), epochs=args.epochs)
        row = {"name": "gensim sg (workers=1)", "kind": "gensim", "seed": args.seed,
               "seconds": time.perf_counter() - t0}  # fmt: skip
        record(row, model.wv.vectors)
    del model, pieces

    E = args.epochs
    # Compile / load numba's cache before any timer.
    tiny_ids = ids[:20_000].copy()
    tiny_off = np.array([0, len(tiny_ids)], dtype=np.int64)
    for v in ("routed", "restricted"):
        wi, wo = init_weights(V, args.dim, 0)
        simulate_epoch(wi, wo, tiny_ids, tiny_off, keep_prob, counts, n_blocks=2, variant=v, window=args.window,
                       negative=args.negative, alpha_start=0.025, alpha_end=0.02, seed=0, epoch=0)  # fmt: skip
    wi, wo = init_weights(V, args.dim, 0)
    sgns_train_chunk(wi, wo, tiny_ids, tiny_off, keep_prob, noise_cdf, args.window, args.negative, 0.025, 0.02,
                     0, False, np.zeros(V, np.int64), np.zeros(V, np.int64))  # fmt: skip
    del wi, wo

    if not args.no_sequential:
        print("sequential kernel sgns_train_chunk ...", flush=True)
        w_in, w_out = init_weights(V, args.dim, args.seed)
        touch_in = np.zeros(V, np.int64)
        touch_out = np.zeros(V, np.int64)
        t0 = time.perf_counter()
        pairs = 0
        for e in range(E):
            _, _, n = sgns_train_chunk(
                w_in, w_out, ids, offsets, keep_prob, noise_cdf, args.window, args.negative,
                alpha_at(e / E, args.alpha, args.min_alpha), alpha_at((e + 1) / E, args.alpha, args.min_alpha),
                derive_seed(args.seed, e, 7), False, touch_in, touch_out,
            )  # fmt: skip
            pairs += n
        secs = time.perf_counter() - t0
        row = {"name": "sequential kernel (sgns_train_chunk)", "kind": "sequential", "seed": args.seed,
               "blocks": 1, "seconds": secs, "train_s": secs, "pairs_per_epoch": pairs / E,
               "negatives_per_pair": (int(touch_out.sum()) - pairs) / pairs}  # fmt: skip
        record(row, w_in)
        del w_in, w_out

    for variant, P, seed, rounds in runs_spec:
        name = f"blocks P={P}, {variant}, seed {seed}" + (f", {rounds} rounds/epoch" if rounds > 1 else "")
        print(f"{name} ...", flush=True)
        w_in, w_out = init_weights(V, args.dim, seed)
        epochs: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for e in range(E):
            st = simulate_epoch(
                w_in, w_out, ids, offsets, keep_prob, counts, n_blocks=P, variant=variant, window=args.window,
                negative=args.negative, alpha_start=alpha_at(e / E, args.alpha, args.min_alpha),
                alpha_end=alpha_at((e + 1) / E, args.alpha, args.min_alpha), seed=seed, epoch=e, rounds=rounds,
            )  # fmt: skip
            epochs.append(st)
            print(f"   epoch {e}: gen {st['generate_s']:.1f}s bucket {st['bucket_s']:.1f}s "
                  f"train {st['train_s']:.1f}s pairs {st['pairs']:,} neg/pair {st['negatives'] / st['pairs']:.3f} "
                  f"block imb {st['block_imbalance']:.3f} cell imb {st['cell_imbalance']:.3f}", flush=True)  # fmt: skip
        secs = time.perf_counter() - t0
        pairs = sum(s["pairs"] for s in epochs)
        row = {
            "name": name, "kind": "blocks", "variant": variant, "blocks": P, "seed": seed, "rounds": rounds,
            "seconds": secs,
            "generate_s": sum(s["generate_s"] for s in epochs), "bucket_s": sum(s["bucket_s"] for s in epochs),
            "samplers_s": sum(s["samplers_s"] for s in epochs), "train_s": sum(s["train_s"] for s in epochs),
            "pairs_per_epoch": pairs / E, "negatives_per_pair": sum(s["negatives"] for s in epochs) / pairs,
            "block_imbalance_max": max(s["block_imbalance"] for s in epochs),
            "block_imbalance_mean": sum(s["block_imbalance"] for s in epochs) / E,
            "cell_imbalance_mean": sum(s["cell_imbalance"] for s in epochs) / E,
            "shuffle_bytes_per_epoch": pairs / E * 8,
            "epochs": epochs,
        }  # fmt: skip
        record(row, w_in)
        del w_in, w_out
    result["finished_utc"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    save()
    print(render_table(result), flush=True)
    return 0


def render_table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    ref = next((r for r in runs if r["kind"] == "gensim"), None)
    head = ("| run | analogy | WS-353 | SL-999 | Δ analogy | Δ WS | Δ SL | analogy ratio | seconds | train s "
            "| pairs/epoch | neg/pair | block mass max/mean | task max/mean | bar |")  # fmt: skip
    lines = [head, "|" + "---|" * 15]
    for r in runs:
        s = r["scores"]
        if ref:
            g = ref["scores"]
            d = {m: s[m] - g[m] for m in ("analogy", "wordsim353", "simlex999")}
            ok = all(d[m] >= -BAR[m] - 1e-12 for m in d)
            deltas = (f"{d['analogy']:+.4f} | {d['wordsim353']:+.4f} | {d['simlex999']:+.4f} | "
                      f"{s['analogy'] / g['analogy']:.3f}")  # fmt: skip
            bar = "—" if r is ref else ("pass" if ok else "FAIL")
        else:
            deltas, bar = "— | — | — | —", "—"
        pairs = f"{r['pairs_per_epoch']:,.0f}" if "pairs_per_epoch" in r else "—"
        npp = f"{r['negatives_per_pair']:.3f}" if "negatives_per_pair" in r else "—"
        imb = f"{r['block_imbalance_max']:.4f}" if "block_imbalance_max" in r else "—"
        cim = f"{r['cell_imbalance_mean']:.3f}" if "cell_imbalance_mean" in r else "—"
        train = f"{r['train_s']:.1f}" if "train_s" in r else "—"
        lines.append(f"| {r['name']} | {s['analogy']:.4f} | {s['wordsim353']:.4f} | {s['simlex999']:.4f} | "
                     f"{deltas} | {r['seconds']:.1f} | {train} | {pairs} | {npp} | {imb} | {cim} | "
                     f"{bar} |")  # fmt: skip
    return "\n".join(lines)


def render_report(result: dict[str, Any]) -> str:
    st = result["settings"]
    out = [
        "# Block-rotated (DSGD) skip-gram: one-process simulation",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Started {result['started_utc']}, finished {result.get('finished_utc', '(not finished)')}. "
        f"Corpus `{result['corpus']}`: {result.get('raw_words', 0):,} words, "
        f"{result.get('in_vocab_words', 0):,} in vocabulary, vocab {result.get('vocab', 0):,} "
        f"(gensim's build_vocab, shared by every run). Settings: {st}. "
        f"One thread for every run: NUMBA_NUM_THREADS={result['threads']['NUMBA_NUM_THREADS']}, "
        "gensim workers=1 (one training thread). "
        f"Machine: {result['machine']['cpus']} cores shared with other work, so times are indicative.",
        "",
        "Scores: `embedpipe.evaluate.scoring.score_vectors` on the input vectors (analogy = 3CosAdd over the "
        "30,000 most frequent words; WS-353 and SimLex-999 = Spearman). Δ = run − gensim of this run; bar = "
        "analogy ≥ gensim − 0.01, WS-353 and SimLex ≥ gensim − 0.02. 'block mass max/mean' = worst epoch's "
        "largest block's expected kept tokens over the mean; 'task max/mean' = per sub-epoch, largest task's "
        "events (positives + negatives) over the mean task's, averaged over epochs (straggler factor on a "
        "cluster).",
        "",
        render_table(result),
        "",
    ]
    blocks = [r for r in result["runs"] if r["kind"] == "blocks"]
    if blocks:
        out += [
            "## Cost of pair generation and bucketing (one thread, summed over epochs)",
            "",
            "| run | generate s | bucket s | samplers s | train s | (gen+bucket)/train "
            "| shuffle MB/epoch (pairs × 8 B) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in blocks:
            out.append(
                f"| {r['name']} | {r['generate_s']:.1f} | {r['bucket_s']:.1f} | {r['samplers_s']:.1f} | "
                f"{r['train_s']:.1f} | {(r['generate_s'] + r['bucket_s']) / r['train_s']:.3f} | "
                f"{r['shuffle_bytes_per_epoch'] / 1e6:,.0f} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
