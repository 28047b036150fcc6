"""The rotation engine's skip-gram schedule, emulated in one process, with its
three choices of data order switchable one at a time.

    NUMBA_NUM_THREADS=1 python -m bench.rotation_order --corpus ../shared/corpus/wiki17m.txt.gz \\
        --blocks 8 --rounds 4 --seed 1 --split random --owed expected --order shuffled --out DIR

It runs what ``embedpipe.training.sgns`` runs on Spark (block assignment by
mass, re-drawn each epoch; the epoch's pairs by
:func:`embedpipe.kernels.blocks.generate_pairs`; rounds; cells trained by
:func:`embedpipe.kernels.blocks.train_cell_attached` in sub-epoch order; the
learning rate linear over sub-epochs), task after task, and scores the input
vectors. The choices:

* ``--split random`` deals each pair to a round at random (the engine's
  :func:`~embedpipe.kernels.blocks.rounds_of_pairs`); ``consecutive`` cuts the
  epoch's pairs into R parts in order (``bench.blocksim``'s rounds);
* ``--owed expected`` owes each word ``count × keep × (window + 1) × k / R``
  negatives a round (the engine's); ``realized`` owes ``k ×`` its pairs in the
  round;
* ``--order shuffled`` visits the 10,000-word pieces in a seeded random order
  (a new one each epoch); ``corpus`` keeps the corpus's order.

The vocabulary is gensim's ``build_vocab`` with min_count 5, as in
``bench.blocksim``. Appends one JSON line per run to ``OUT/runs.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.blocksim import PIECE, flat_scores, load_pieces


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--split", choices=("random", "consecutive"), default="random")
    ap.add_argument("--owed", choices=("expected", "realized"), default="expected")
    ap.add_argument("--order", choices=("shuffled", "corpus"), default="shuffled")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from gensim.models import Word2Vec

    from embedpipe.evaluate.scoring import score_vectors
    from embedpipe.kernels.blocks import (
        assign_blocks,
        attached_cap,
        block_samplers,
        bucket_pairs,
        derive_seed,
        generate_pairs,
        rounds_of_pairs,
        train_cell_attached,
    )
    from embedpipe.kernels.sgns import init_weights
    from embedpipe.kernels.subsampling import keep_probabilities

    # The skip-gram bar's settings.
    dim, window, negative, sample, alpha, min_alpha = 100, 5, 5, 1e-4, 0.025, 0.0001
    P, R, E, seed = args.blocks, args.rounds, args.epochs, args.seed
    pieces = load_pieces(args.corpus, None)
    vocab_model = Word2Vec(vector_size=dim, min_count=5, sample=sample, sg=1, workers=1)
    vocab_model.build_vocab(pieces)
    words = list(vocab_model.wv.index_to_key)
    index = vocab_model.wv.key_to_index
    counts = np.array([vocab_model.wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    encoded = [np.array([index[w] for w in p if w in index], dtype=np.int32) for p in pieces]
    del vocab_model, pieces
    keep = keep_probabilities(counts, sample)
    V = len(words)
    w_in, w_out = init_weights(V, dim, seed)
    noise = counts.astype(np.float64) ** 0.75
    mass = counts * np.minimum(keep, 1.0)
    steps = R * P
    no_tally = np.zeros((0, 0), np.int64)
    t0 = time.perf_counter()
    for e in range(E):
        block = assign_blocks(mass, P, derive_seed(seed, e, 1))[0]
        if args.order == "shuffled":
            visit = np.random.default_rng(derive_seed(seed, e, 9)).permutation(len(encoded))
        else:
            visit = np.arange(len(encoded))
        ids = np.concatenate([encoded[i] for i in visit])
        offsets = np.zeros(len(visit) + 1, np.int64)
        np.cumsum([len(encoded[i]) for i in visit], out=offsets[1:])
        inp, out = generate_pairs(ids, offsets, keep.astype(np.float32), window, derive_seed(seed, e, 2))
        if args.split == "random":
            order, cuts = rounds_of_pairs(len(inp), R, derive_seed(seed, e, 3))
        else:
            order, cuts = np.arange(len(inp)), np.linspace(0, len(inp), R + 1).round().astype(np.int64)
        seg, block_words, prob, alias, block_noise = block_samplers(noise, block, P)
        for r in range(R):
            picked = order[cuts[r] : cuts[r + 1]]
            start, s_in, s_out = bucket_pairs(inp[picked], out[picked], block, P)
            if args.owed == "realized":
                owed_all = negative * np.bincount(s_in, minlength=V).astype(np.int64)
            else:
                owed_all = np.rint(counts * keep * (window + 1) * negative / R).astype(np.int64)
            owed = [np.where(block == p, owed_all, 0).astype(np.int64) for p in range(P)]
            for s in range(P):
                done = e * steps + r * P + s
                a0 = alpha - (alpha - min_alpha) * done / (E * steps)
                a1 = alpha - (alpha - min_alpha) * (done + 1) / (E * steps)
                for p in range(P):
                    q = (p + s) % P
                    lo, hi = start[p * P + q], start[p * P + q + 1]
                    train_cell_attached(
                        w_in, w_out, s_in[lo:hi], s_out[lo:hi], owed[p], min(1.0, float(block_noise[q])),
                        int(seg[q]), int(seg[q + 1] - seg[q]), block_words, prob, alias, a0, a1,
                        np.uint64(derive_seed(seed, e, r, s, p)), no_tally, attached_cap(negative),
                    )  # fmt: skip
        print(f"epoch {e + 1}/{E} done, {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    row = {"blocks": P, "rounds": R, "seed": seed, "split": args.split, "owed": args.owed, "order": args.order,
           "piece_words": PIECE, "seconds": seconds, **flat_scores(score_vectors(words, w_in))}  # fmt: skip
    print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "runs.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
