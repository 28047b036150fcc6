"""Round-trip tests of embedpipe.vectors.formats through gensim (pure numpy, no Spark)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedpipe.vectors.formats import write_glove_text, write_word2vec_binary, write_word2vec_text

keyedvectors = pytest.importorskip("gensim.models.keyedvectors")
KeyedVectors = keyedvectors.KeyedVectors
Model = tuple[list[str], np.ndarray]


@pytest.fixture(scope="module")
def model() -> Model:
    rng = np.random.default_rng(42)
    n, dim = 300, 17
    words = [f"w{i}" for i in range(n)]
    words[:6] = ["the", "café", "naïve", "東京", "o'neill", "x-ray"]  # non-ASCII must round-trip
    vec = (rng.normal(size=(n, dim)) * rng.choice([1e-6, 1.0, 1e4], size=(n, 1))).astype(np.float32)
    f32 = np.finfo(np.float32)
    vec[0, :6] = [0.0, -0.0, f32.max, -f32.max, f32.tiny, f32.smallest_subnormal]
    vec[1, :3] = [0.1, 1 / 3, np.nextafter(np.float32(1.0), np.float32(2.0))]
    return words, vec


def _check(kv: Any, words: list[str], vec: np.ndarray) -> None:
    assert list(kv.index_to_key) == words
    assert kv.vectors.dtype == np.float32
    assert np.array_equal(kv.vectors, vec)
    # array_equal treats -0.0 == 0.0; the sign must survive too.
    assert np.array_equal(np.signbit(kv.vectors), np.signbit(vec))


def test_word2vec_text_round_trip(tmp_path: Path, model: Model) -> None:
    words, vec = model
    path = tmp_path / "vectors.txt"
    write_word2vec_text(path, words, vec)
    first = path.read_text(encoding="utf-8").split("\n", 2)
    assert first[0] == f"{len(words)} {vec.shape[1]}"
    assert first[1].split(" ")[0] == "the" and len(first[1].split(" ")) == vec.shape[1] + 1
    _check(KeyedVectors.load_word2vec_format(str(path), binary=False), words, vec)


def test_word2vec_binary_round_trip(tmp_path: Path, model: Model) -> None:
    words, vec = model
    path = tmp_path / "vectors.bin"
    write_word2vec_binary(path, words, vec.astype(np.float64))  # float64 input is cast
    raw = path.read_bytes()
    header = f"{len(words)} {vec.shape[1]}\n".encode()
    assert raw.startswith(header)
    rec = b"the " + vec[0].astype("<f4").tobytes() + b"\n"
    assert raw[len(header) : len(header) + len(rec)] == rec
    expected_size = len(header) + sum(len(w.encode("utf-8")) + 2 + 4 * vec.shape[1] for w in words)
    assert len(raw) == expected_size
    _check(KeyedVectors.load_word2vec_format(str(path), binary=True), words, vec)


def test_glove_text_round_trip(tmp_path: Path, model: Model) -> None:
    words, vec = model
    path = tmp_path / "glove.txt"
    write_glove_text(path, words, vec)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(words) and lines[0].startswith("the ")
    kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    _check(kv, words, vec)


@pytest.mark.parametrize("writer", [write_word2vec_text, write_word2vec_binary, write_glove_text])
def test_writers_reject_bad_input(tmp_path: Path, writer: Callable[..., None]) -> None:
    path = tmp_path / "out"
    vec = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="whitespace"):
        writer(path, ["ok", "two words"], vec)
    with pytest.raises(ValueError, match="twice"):
        writer(path, ["dup", "dup"], vec)
    with pytest.raises(ValueError, match="rows"):
        writer(path, ["a"], vec)
    bad = vec.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="'b'.*NaN"):
        writer(path, ["a", "b"], bad)
