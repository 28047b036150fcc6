"""The analogy search as a Spark job (eval.spark_above) gives the local scores exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedpipe.config import build_config
from embedpipe.errors import ConfigError
from embedpipe.evaluate import stage as evaluate
from embedpipe.evaluate.evalsets import AnalogySet, builtin_sets
from embedpipe.evaluate.scoring import local_analogy_predictions, score_vectors
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.vectors import write_vectors

V, DIM, RESTRICT = 3000, 20, 2500


@pytest.fixture(scope="module")
def sets():
    pairs, analogies = builtin_sets()
    extra = AnalogySet(
        name="mini",
        sections=["family", "family", "gram-x"],
        questions=[
            ("man", "king", "woman", "queen"),
            ("boy", "girl", "brother", "sister"),
            ("walk", "walked", "nosuchword", "x"),
        ],
        semantic=[True, True, False],
    )
    return pairs, [*analogies, extra]


@pytest.fixture(scope="module")
def model(sets):
    """3000 words: the Google-set words (shuffled in among fillers) with planted offsets.

    For every (a, b) pair of a section, b = a + offset(section) + noise, so many
    questions are answered right and many not; a few Google words sit beyond
    restrict_vocab or are absent, and "Paris" is a case variant ahead of "paris".
    """
    rng = np.random.default_rng(7)
    google = sets[1][0]
    gwords = list(dict.fromkeys(w for q in google.questions for w in q))
    rng.shuffle(gwords)
    absent = set(gwords[:40])
    late = gwords[40:80]  # placed beyond restrict_vocab
    early = [w for w in gwords[80:] if w != "paris"]
    n_fill = V - len(early) - len(late) - 2
    fillers = [f"filler{i}" for i in range(n_fill)]
    head = ["Paris", "paris", *early, *fillers[: RESTRICT - len(early) - 2]]
    words = head + fillers[RESTRICT - len(early) - 2 :] + late
    assert len(words) == V and len(head) == RESTRICT and not absent & set(words)
    row: dict[str, int] = {}
    for i, w in enumerate(words):
        row.setdefault(w.lower(), i)
    m = rng.normal(size=(V, DIM))
    offsets = {s: rng.normal(scale=1.5, size=DIM) for s in dict.fromkeys(google.sections)}
    done: set[str] = set()
    for sec, (a, b, c, d) in zip(google.sections, google.questions, strict=True):
        for x, y in ((a, b), (c, d)):
            if x in row and y in row and y not in done:
                m[row[y]] = m[row[x]] + offsets[sec] + rng.normal(scale=0.3, size=DIM)
                done.add(y)
    m[0] = m[1] * 1.01  # "Paris" ~ "paris"
    return words, m.astype(np.float32)


def _same(x: dict, y: dict) -> None:
    assert x.keys() == y.keys()
    for name in x:
        assert x[name].keys() == y[name].keys(), name
        for k, v in x[name].items():
            w = y[name][k]
            if isinstance(v, float) and math.isnan(v):
                assert isinstance(w, float) and math.isnan(w), (name, k, w)
            else:
                assert v == w and type(v) is type(w), (name, k, v, w)


def test_spark_predictions_equal_local_ones_block_by_block(spark, model):
    words, m = model
    unit = normalize_rows(m[:RESTRICT])
    rng = np.random.default_rng(1)
    a, b, c = (rng.integers(0, RESTRICT, size=203) for _ in range(3))
    with evaluate.SparkAnalogySearch(spark, partitions=3) as search:
        got = search(unit, a, b, c, 16)  # 13 blocks, the last one short
        assert search.jobs == 1 and search.blocks == 13
        empty = search(unit, a[:0], b[:0], c[:0], 16)
    want = local_analogy_predictions(unit, a, b, c, 16)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def test_score_vectors_with_spark_search_equals_local(spark, model, sets, monkeypatch):
    words, m = model
    _, analogies = sets
    broadcasts = []
    real_share = evaluate.share
    monkeypatch.setattr(evaluate, "share", lambda s, v: broadcasts.append(v.shape) or real_share(s, v))
    kw = dict(restrict_vocab=RESTRICT, pair_sets=[], analogy_sets=analogies, block=300)
    local = score_vectors(words, m, **kw)
    with evaluate.SparkAnalogySearch(spark) as search:
        distributed = score_vectors(words, m, **kw, analogy_fn=search)
    _same(distributed, local)
    assert broadcasts == [(RESTRICT, DIM)], "one broadcast shared by both analogy sets"
    assert search.jobs == 2 and search.blocks > 2
    g = local["google_analogy"]
    assert 0.05 < g["accuracy"] < 0.95 and 0 < g["coverage"] < 1, g
    assert local["mini"]["total"] == 3 and 0 < local["mini"]["answered"] < 3


def test_evaluate_run_goes_to_spark_above_threshold_and_plots(spark, model, sets, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    words, m = model
    root = str(tmp_path / "out")
    write_vectors(
        spark,
        root,
        model="sgns",
        run_id="r1",
        words=words,
        counts=np.arange(V, 0, -1),
        matrix=m,
        metadata={},
    )
    calls = []

    class Spy(evaluate.SparkAnalogySearch):
        def __call__(self, unit, a, b, c, block):
            calls.append((unit.shape, len(a), block))
            return super().__call__(unit, a, b, c, block)

    monkeypatch.setattr(evaluate, "SparkAnalogySearch", Spy)
    raw = {
        "stages": ["evaluate"],
        "output": {"path": root},
        "eval": {"models": ["sgns"], "restrict_vocab": RESTRICT, "spark_above": 100},
    }
    cfg = build_config(raw)
    result = evaluate.run(spark, cfg, plot_dir=str(tmp_path / "plots"))
    assert len(calls) == 1 and calls[0][0] == (RESTRICT, DIM)
    local = score_vectors(words, m, restrict_vocab=RESTRICT, block=evaluate.LOCAL_BLOCK)
    assert result.stats["results"] == evaluate.json_summary({"sgns": local})
    plots = result.stats["plots"]
    assert [p.rsplit("/", 1)[1] for p in plots] == ["projection.png", "benchmarks.png"]
    for p in plots:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    # At or below the threshold (or with a smaller vocabulary) the search stays on the driver.
    calls.clear()
    raw["eval"]["spark_above"] = RESTRICT
    mini = [AnalogySet(name="first", sections=["s"], questions=[tuple(words[2:6])], semantic=[True])]
    evaluate.score_model(spark, build_config(raw), words, m, [], mini)
    evaluate.score_model(spark, cfg, words[:100], m[:100], [], mini)
    assert calls == []
    evaluate.score_model(spark, cfg, words[:101], m[:101], [], mini)
    assert len(calls) == 1


def test_spark_above_is_validated():
    with pytest.raises(ConfigError, match=r"eval\.spark_above must be >= 1, got 0"):
        build_config({"stages": ["evaluate"], "eval": {"spark_above": 0}})
    assert build_config({"stages": ["evaluate"]}).eval.spark_above == 200_000


def test_spark_block_bounds_task_memory():
    assert evaluate.spark_block(3000) == evaluate.LOCAL_BLOCK
    assert evaluate.spark_block(2_000_000) == (evaluate.SPARK_TASK_MB << 20) // (12 * 2_000_000)
    assert evaluate.spark_block(10**12) == 1
