"""Rotation's skip-gram cell kernels against the sequential kernel, one thread each.

    python -m bench.cell_kernels --corpus ../shared/corpus/wiki17m.txt.gz \
        --words 4000000 --blocks 2,8,32 --repeats 3 --out DIR

On the first ``--words`` tokens (vocabulary: min_count 5 within them,
subsampling 1e-4, window 5, negative 5, dim 100), one epoch's pairs are cut
into the ``P × P`` cells of a block assignment. Each repeat trains every cell
once with ``train_cell_routed`` (every negative a one-term update) and once
with ``train_cell_attached`` (negatives attached to the word's pairs), from
the same starting weights, alternating so that a drift of the machine's
speed touches both alike; the sequential kernel ``sgns_train_chunk`` trains
the same tokens as the reference. Reports the best repeat's seconds and the
ratios. Pair generation and bucketing are not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.blocksim import load_pieces
from embedpipe.kernels.blocks import (
    assign_blocks,
    attached_cap,
    block_samplers,
    bucket_pairs,
    derive_seed,
    generate_pairs,
    train_cell_attached,
    train_cell_routed,
)
from embedpipe.kernels.sgns import build_noise_cdf, init_weights, sgns_train_chunk
from embedpipe.kernels.subsampling import keep_probabilities

DIM, WINDOW, NEGATIVE, SAMPLE, MIN_COUNT, ALPHA = 100, 5, 5, 1e-4, 5, 0.025
NO_TALLY = np.zeros((0, 0), np.int64)


def encode(pieces: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids (min_count within the sample, most frequent first), sentence offsets, counts."""
    words, inverse, counts = np.unique(np.concatenate([np.array(p) for p in pieces]), return_inverse=True,
                                       return_counts=True)  # fmt: skip
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    kept = counts[order] >= MIN_COUNT
    ids = rank[inverse]
    lengths = np.array([len(p) for p in pieces])
    piece_of = np.repeat(np.arange(len(pieces)), lengths)
    mask = ids < kept.sum()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(piece_of[mask], minlength=len(pieces)))])
    return ids[mask].astype(np.int32), offsets.astype(np.int64), counts[order][kept].astype(np.int64)


def time_cells(kernel: str, w0: tuple[np.ndarray, np.ndarray], cells: list[tuple[Any, ...]]) -> tuple[float, int]:
    w_in, w_out = w0[0].copy(), w0[1].copy()
    negatives = 0
    t0 = time.perf_counter()
    for inp, out, owed_p, words_p, n_row, pi_q, q_lo, q_n, words, prob, alias, seed in cells:
        if kernel == "attached":
            _, n = train_cell_attached(w_in, w_out, inp, out, owed_p, pi_q, q_lo, q_n, words, prob, alias,
                                       ALPHA, ALPHA, seed, NO_TALLY, attached_cap(NEGATIVE))  # fmt: skip
        else:
            n = train_cell_routed(w_in, w_out, inp, out, words_p, n_row, pi_q, q_lo, q_n, words, prob, alias,
                                  NEGATIVE, ALPHA, ALPHA, seed, 1 << 20, NO_TALLY)  # fmt: skip
        negatives += int(n)
    return time.perf_counter() - t0, negatives


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--words", type=int, default=4_000_000)
    ap.add_argument("--blocks", default="2,8,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    command = "python -m bench.cell_kernels " + shlex.join(argv if argv is not None else sys.argv[1:])
    ids, offsets, counts = encode(load_pieces(args.corpus, args.words))
    V = len(counts)
    keep = keep_probabilities(counts, SAMPLE).astype(np.float32)
    w0 = init_weights(V, DIM, seed=1)
    inp_all, out_all = generate_pairs(ids, offsets, keep, WINDOW, derive_seed(1, 0, 2))
    n_pairs = len(inp_all)
    seq = []
    for _ in range(args.repeats):
        w_in, w_out = w0[0].copy(), w0[1].copy()
        t_in, t_out = np.zeros(V, np.int64), np.zeros(V, np.int64)
        t0 = time.perf_counter()
        sgns_train_chunk(w_in, w_out, ids, offsets, keep, build_noise_cdf(counts), WINDOW, NEGATIVE, ALPHA, ALPHA,
                         1, False, t_in, t_out)  # fmt: skip
        seq.append(time.perf_counter() - t0)
    rows: list[dict[str, Any]] = [{"kernel": "sequential (sgns_train_chunk)", "blocks": 1, "seconds": min(seq)}]
    noise = counts.astype(np.float64) ** 0.75
    for P in [int(x) for x in args.blocks.split(",")]:
        block, _ = assign_blocks(counts * np.minimum(keep, 1.0), P, derive_seed(1, 0, 1))
        start, s_in, s_out = bucket_pairs(inp_all, out_all, block, P)
        seg, words, prob, alias, block_noise = block_samplers(noise, block, P)
        n_row = np.bincount(s_in, minlength=V).astype(np.int64)
        owed = [np.where(block == p, NEGATIVE * n_row, 0).astype(np.int64) for p in range(P)]
        cells = []
        for s in range(P):
            for p in range(P):
                q = (p + s) % P
                lo, hi = start[p * P + q], start[p * P + q + 1]
                cells.append((s_in[lo:hi], s_out[lo:hi], owed[p], words[seg[p] : seg[p + 1]], n_row,
                              min(1.0, float(block_noise[q])), int(seg[q]), int(seg[q + 1] - seg[q]), words, prob,
                              alias, np.uint64(derive_seed(1, p, q))))  # fmt: skip
        best: dict[str, float] = {}
        negs: dict[str, int] = {}
        for _ in range(args.repeats):
            for kernel in ("routed", "attached"):
                sec, negs[kernel] = time_cells(kernel, w0, cells)
                best[kernel] = min(best.get(kernel, float("inf")), sec)
        for kernel in ("routed", "attached"):
            rows.append({"kernel": kernel, "blocks": P, "seconds": best[kernel], "negatives_per_pair":
                         negs[kernel] / n_pairs})  # fmt: skip
        print(f"P={P}: routed {best['routed']:.2f} s, attached {best['attached']:.2f} s", flush=True)
    base = rows[0]["seconds"]
    md = [
        "# Rotation's skip-gram cell kernels against the sequential kernel",
        "",
        f"Command: `{command}`",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, one thread. "
        f"{len(ids):,} tokens in vocabulary ({V:,} words, min_count {MIN_COUNT} within the sample), "
        f"{n_pairs:,} pairs after subsampling {SAMPLE} and reduced windows up to {WINDOW}; dim {DIM}, negative "
        f"{NEGATIVE}. Best of {args.repeats} repeats; routed and attached alternate within each repeat.",
        "",
        "| kernel | blocks | seconds | pairs/s | × sequential | negatives/pair |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        npp = f"{r['negatives_per_pair']:.3f}" if "negatives_per_pair" in r else "—"
        md.append(f"| {r['kernel']} | {r['blocks']} | {r['seconds']:.2f} | {n_pairs / r['seconds']:,.0f} "
                  f"| {r['seconds'] / base:.2f} | {npp} |")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text("\n".join(md) + "\n")
    (args.out / "results.json").write_text(json.dumps({"command": command, "rows": rows, "pairs": n_pairs}, indent=2))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
