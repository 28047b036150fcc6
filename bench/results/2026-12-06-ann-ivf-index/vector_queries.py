"""Recall of both indexes on query vectors that are not words: analogy queries, b - a + c.

    python vector_queries.py TABLE [TARGET_RECALL] > vector-queries-wiki17m.log

``Vectors.most_similar(positive=[b, c], negative=[a])`` through an index
searches the vector b - a + c (the words' unit vectors), which is no
vocabulary row: the graph descends to it from its top layer and the
inverted file ranks its lists at the search, where a word's own search
starts from the word (``search_rows``). This measures
recall@10 on 2,000 such queries (triples drawn from the vocabulary with a
seed, the three words excluded as ``most_similar`` excludes them), against
brute force over the same unit vectors, and the time of one query at a time.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from embedpipe import Vectors
from embedpipe.vectors.ann import recall_at_k

K, QUERIES = 10, 2000


def main() -> None:
    target = float(sys.argv[2]) if len(sys.argv) > 2 else 0.96
    vec = Vectors.from_table(sys.argv[1], "sgns")
    unit = vec.unit()
    rng = np.random.default_rng(3)
    triples = rng.choice(min(len(vec), 30000), size=(QUERIES, 3))  # among the 30,000 most frequent, as analogies
    queries = unit[triples[:, 1]] - unit[triples[:, 0]] + unit[triples[:, 2]]
    exclude = [t.tolist() for t in triples]
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = q @ unit.T
    scores[np.arange(QUERIES)[:, None], triples] = -np.inf
    exact = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    print(f"{len(vec)} words; {QUERIES} analogy queries b - a + c; indexes built to target recall@10 {target}")
    print(f"{'index':6s} {'breadth':>12s} {'recall@10':>9s} {'ms per query, one at a time':>28s}")
    for kind in ("hnsw", "ivf"):
        index = vec.build_index(kind=kind, target_recall=target, rebuild=True)
        found, _ = index.search(queries, K, exclude=exclude)
        t0 = time.perf_counter()
        for i in range(200):
            index.search(queries[i : i + 1], K, exclude=exclude[i : i + 1])
        one = (time.perf_counter() - t0) / 200 * 1000
        # The breadth query vectors are searched with: measured on analogy vectors since the build does so
        # (vector-queries-wiki17m.log); the words' own before (vector-queries-wiki17m-before.log).
        vectors = getattr(index, "ef_search_vectors" if kind == "hnsw" else "probes_vectors", None)
        words = index.ef_search if kind == "hnsw" else index.probes
        breadth = f"{'ef_search' if kind == 'hnsw' else 'probes'} {vectors or words}"
        print(f"{kind:6s} {breadth:>12s} {recall_at_k(exact, found):9.4f} {one:28.3f}", flush=True)


if __name__ == "__main__":
    main()
