"""word2vec's frequent-word subsampling probabilities (pure numpy)."""

from __future__ import annotations

import numpy as np


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word, clipped to 1.

    word2vec.c's formula: ``(sqrt(f / (s·N)) + 1) · (s·N) / f`` with ``f`` the
    word's count, ``N`` the number of in-vocabulary tokens and ``s`` the
    ``sample`` threshold; ``sample = 0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or len(counts) == 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / np.maximum(counts, 1.0))
