"""Tests of embedpipe.evaluate.plots (no Spark: hand-made vectors and score dicts)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image as mpimg  # noqa: E402

from embedpipe.evaluate import plots  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Vec:
    words: list[str]
    matrix: np.ndarray


def _model(words: list[str], dim: int = 8, seed: int = 0) -> Vec:
    rng = np.random.default_rng(seed)
    return Vec(words, rng.normal(size=(len(words), dim)).astype(np.float32))


ALL_DEFAULT = [w for ws in plots.DEFAULT_GROUPS.values() for w in ws]


def _check_png(path, min_w: int = 300, min_h: int = 200) -> tuple[int, ...]:
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h
    assert img[..., :3].std() > 0, "the picture is not blank"
    return img.shape


def test_projection_one_panel_per_model_and_missing_words_skipped(tmp_path):
    full = _model(["the", *ALL_DEFAULT, "of"], seed=1)
    # Second model lacks whole groups and single words, and has upper-case entries.
    partial_words = ["the", "Paris", "france", "king", "queen", "one", "went", "and"]
    partial = _model(partial_words, seed=2)
    path = plots.plot_projection({"glove": full, "sgns": partial}, None, tmp_path / "p.png")
    assert path == str(tmp_path / "p.png")
    one = plots.plot_projection({"sgns": partial}, None, tmp_path / "one.png")
    h2, w2, _ = _check_png(path)
    h1, w1, _ = _check_png(one)
    assert w2 > 1.5 * w1 and h2 == h1, "two models side by side"


def test_projection_with_no_known_words_and_tiny_models(tmp_path):
    nothing = _model(["alpha", "beta", "gamma"], dim=3)
    single = _model(["paris", "x"], dim=1)  # one word, 1-D vectors
    groups = {"cities": ["paris", "london"], "letters": ["alpha", "Beta"]}
    path = plots.plot_projection({"a": nothing, "b": single}, groups, tmp_path / "sub" / "proj.png")
    _check_png(path)


def test_pick_words_lowercase_first_match():
    words = ["Paris", "paris", "king", "zebra"]
    m = np.arange(8, dtype=np.float32).reshape(4, 2)
    picked = plots.pick_words(words, m, {"g": ["paris", "KING", "queen"]})
    assert picked.words == ["paris", "king"]
    np.testing.assert_array_equal(picked.matrix, [[0, 1], [4, 5]])


def test_pca_recovers_planted_axes():
    rng = np.random.default_rng(3)
    x = np.zeros((40, 10))
    x[:20, 0] = 5.0
    x[20:, 0] = -5.0
    x[:, 1] = rng.normal(scale=1.0, size=40)
    x[:, 2:] = rng.normal(scale=0.01, size=(40, 8))
    x[:, 9] += 10.0  # a common offset: removed by centring (after normalising)
    coords, frac = plots._pca_2d(x)
    assert coords.shape == (40, 2)
    assert frac[0] > frac[1] > 0 and frac.sum() <= 1.0 + 1e-9
    assert np.sign(coords[:20, 0]).tolist().count(np.sign(coords[0, 0])) == 20
    assert np.all(np.sign(coords[20:, 0]) == -np.sign(coords[0, 0]))


def _scores(ws: float, sl: float, acc: float, cov: float) -> dict:
    return {
        "wordsim353": {"spearman": ws, "coverage": cov, "pairs": 300, "pairs_total": 353},
        "simlex999": {"spearman": sl, "coverage": cov, "pairs": 900, "pairs_total": 999},
        "google_analogy": {
            "accuracy": acc,
            "accuracy_3cosmul": acc,
            "semantic": acc,
            "syntactic": acc,
            "coverage": cov,
            "answered": 100,
            "total": 19544,
        },
    }


def test_benchmarks_chart_with_extra_sets_nan_and_negative(tmp_path):
    glove = _scores(0.61, 0.32, 0.55, 0.9)
    sgns = _scores(0.66, -0.05, float("nan"), 0.0)
    sgns["my_pairs"] = {"spearman": 0.2, "coverage": 1.0, "pairs": 10, "pairs_total": 10}
    path = plots.plot_benchmarks({"glove": glove, "sgns": sgns}, tmp_path / "b.png")
    _check_png(path)
    # A single model with None values (json_summary's shape) works too.
    js = {"sgns": {"wordsim353": {"spearman": None, "coverage": None}}}
    _check_png(plots.plot_benchmarks(js, tmp_path / "c.png"), min_w=200)


def test_empty_inputs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least one model"):
        plots.plot_benchmarks({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one model"):
        plots.plot_projection({}, None, tmp_path / "x.png")


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(plots.PlotDependencyError, match=r"pip install embedpipe\[plot\]"):
        plots.require_matplotlib()
    with pytest.raises(ImportError, match=r"pip install embedpipe\[plot\]"):
        plots.plot_benchmarks({"m": _scores(0.1, 0.1, 0.1, 1.0)}, tmp_path / "x.png")
