"""word2vec's subsampling keep-probabilities (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedpipe.kernels.subsampling import keep_probabilities


def test_keep_probabilities_follow_word2vec_c() -> None:
    counts = np.array([4, 3, 3, 2, 1, 1, 1], dtype=np.int64)
    total, sample = int(counts.sum()), 0.01
    thr = sample * total
    want = [min(1.0, (math.sqrt(c / thr) + 1) * thr / c) for c in counts]
    assert keep_probabilities(counts, sample) == pytest.approx(want)
    # The most frequent words are the ones thinned out, never a rare one more than a frequent one.
    assert np.all(np.diff(keep_probabilities(counts, sample)) >= 0)


def test_sample_zero_keeps_every_token() -> None:
    assert keep_probabilities(np.array([10, 1]), 0.0).tolist() == [1.0, 1.0]
