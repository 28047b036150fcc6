"""Tests of embedpipe.evaluate.scoring and embedpipe.evaluate.evalsets (pure numpy, no Spark)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embedpipe
from embedpipe.errors import UnknownWordError
from embedpipe.evaluate.evalsets import (
    AnalogySet,
    PairSet,
    builtin_sets,
    load_analogy_set,
    load_pair_set,
)
from embedpipe.evaluate.scoring import score_vectors
from embedpipe.kernels.similarity import analogy_argmax, normalize_rows
from embedpipe.vectors.queries import analogy, neighbors

Model = tuple[list[str], np.ndarray]
EVAL_DIR = Path(embedpipe.__file__).parent / "data" / "eval"
PAIR_KEYS = {"spearman", "coverage", "pairs", "pairs_total"}
ANALOGY_KEYS = {
    "accuracy",
    "accuracy_3cosmul",
    "semantic",
    "syntactic",
    "coverage",
    "answered",
    "total",
}

# ---------------------------------------------------------------- crafted model
# 2-D vectors (see tests/kernels/test_similarity_kernel.py for the arithmetic):
#   athens : greece :: baghdad : ?   -> 3CosAdd answers "iraq" (= b - a + c exactly),
#                                      3CosMul answers "cairo" (almost opposite to a).
#   slow : slowly :: quick : ?       -> b is a tiny offset of a, so b - a + c ~ c;
#                                      with a, b, c excluded the answer is "quickly".
CRAFTED = {
    "athens": [1.0, 0.0],
    "greece": [0.0, 1.0],
    "baghdad": [-1.0, 0.0],
    "iraq": [-2.0, 1.0],
    "cairo": [-1.0, 0.1],
    "zzz": [0.0, -1.0],
}
CRAFTED_SYN = {
    "slow": [1.0, 0.0, 0.0],
    "slowly": [1.0, 0.1, 0.0],
    "quick": [0.0, 1.0, 0.0],
    "quickly": [0.1, 1.0, 0.0],
    "other": [-1.0, -1.0, 0.0],
}


def _model(d: dict[str, list[float]]) -> tuple[list[str], np.ndarray]:
    return list(d), np.array(list(d.values()), dtype=np.float32)


def _analogy_set(questions: list[tuple[str, str, str, str, str]], name: str = "toy") -> AnalogySet:
    return AnalogySet(
        name=name,
        sections=[q[0] for q in questions],
        questions=[tuple(q[1:]) for q in questions],  # type: ignore[misc]
        semantic=np.array([not q[0].startswith("gram") for q in questions]),
    )


def test_crafted_analogies_add_mul_semantic_syntactic() -> None:
    # One 4-D model: the CRAFTED group lives in dims 0-1, CRAFTED_SYN (first two
    # coordinates) in dims 2-3, so cross-group cosines are 0 (cos' = 0.5, 3CosMul
    # score 0.5 * 0.5 / 0.501 ~ 0.5) and never compete.
    # Syntactic question under 3CosMul: quickly scores cos'(d,b) cos'(d,c) / (cos'(d,a) + eps)
    # = 0.599 * 0.9975 / (0.5498 + 0.001) ~ 1.085, "other" ~ 0.11 -> quickly.
    words = list(CRAFTED) + list(CRAFTED_SYN)
    vecs = np.array(
        [v + [0.0, 0.0] for v in CRAFTED.values()]
        + [[0.0, 0.0] + v[:2] for v in CRAFTED_SYN.values()],
        dtype=np.float32,
    )
    aset = _analogy_set(
        [
            ("capital-common-countries", "athens", "greece", "baghdad", "iraq"),
            ("capital-world", "athens", "greece", "baghdad", "cairo"),
            ("gram1-adjective-to-adverb", "slow", "slowly", "quick", "quickly"),
            ("gram1-adjective-to-adverb", "slow", "slowly", "quick", "nothere"),
        ]
    )
    res = score_vectors(words, vecs, restrict_vocab=100, pair_sets=[], analogy_sets=[aset])
    r = res["toy"]
    assert set(res) == {"toy"} and set(r) == ANALOGY_KEYS
    assert r["total"] == 4 and r["answered"] == 3 and r["coverage"] == pytest.approx(0.75)
    # 3CosAdd: iraq right, cairo wrong, quickly right.
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["semantic"] == pytest.approx(1 / 2)
    assert r["syntactic"] == pytest.approx(1.0)
    # 3CosMul: iraq wrong, cairo right, quickly right.
    assert r["accuracy_3cosmul"] == pytest.approx(2 / 3)
    assert isinstance(r["answered"], int) and isinstance(r["accuracy"], float)
    # Only the syntactic question is answered when the semantic words are rare.
    cut = score_vectors(
        words[6:] + words[:6],
        np.roll(vecs, -6, axis=0),
        restrict_vocab=5,
        pair_sets=[],
        analogy_sets=[aset],
    )["toy"]
    assert (cut["answered"], cut["accuracy"], cut["syntactic"]) == (1, 1.0, 1.0)
    assert math.isnan(cut["semantic"])


def test_exclusion_of_question_words_matters() -> None:
    words, vecs = _model(CRAFTED_SYN)
    aset = _analogy_set([("gram1-adjective-to-adverb", "slow", "slowly", "quick", "quickly")])
    r = score_vectors(words, vecs, pair_sets=[], analogy_sets=[aset])["toy"]
    assert r["accuracy"] == 1.0 and r["syntactic"] == 1.0 and math.isnan(r["semantic"])
    # Asking for "quick" as the answer (what an un-excluded search returns) scores 0.
    aset_c = _analogy_set([("gram1-adjective-to-adverb", "slow", "slowly", "quick", "quick")])
    r = score_vectors(words, vecs, pair_sets=[], analogy_sets=[aset_c])["toy"]
    assert r["accuracy"] == 0.0 and r["accuracy_3cosmul"] == 0.0


def test_restrict_vocab_cuts_coverage_and_candidates() -> None:
    # Order: athens greece baghdad cairo zzz iraq -> "iraq" is the 6th most frequent.
    order = ["athens", "greece", "baghdad", "cairo", "zzz", "iraq"]
    words = order
    vecs = np.array([CRAFTED[w] for w in order], dtype=np.float32)
    aset = _analogy_set(
        [
            ("capital-common-countries", "athens", "greece", "baghdad", "iraq"),
            ("capital-common-countries", "athens", "greece", "baghdad", "cairo"),
        ]
    )
    full = score_vectors(words, vecs, restrict_vocab=6, pair_sets=[], analogy_sets=[aset])["toy"]
    assert (full["answered"], full["coverage"]) == (2, 1.0)
    assert full["accuracy"] == 0.5  # add picks iraq
    cut = score_vectors(words, vecs, restrict_vocab=5, pair_sets=[], analogy_sets=[aset])["toy"]
    # The iraq question is no longer answered, and iraq is no longer a candidate,
    # so 3CosAdd now answers "cairo" correctly.
    assert (cut["answered"], cut["total"], cut["coverage"]) == (1, 2, 0.5)
    assert cut["accuracy"] == 1.0 and cut["accuracy_3cosmul"] == 1.0
    none = score_vectors(words, vecs, restrict_vocab=2, pair_sets=[], analogy_sets=[aset])["toy"]
    assert none["answered"] == 0 and none["coverage"] == 0.0
    assert all(math.isnan(none[k]) for k in ("accuracy", "accuracy_3cosmul", "semantic"))


def test_pair_set_spearman_coverage_and_ties() -> None:
    # Unit vectors at angles 0, 60, 90, 180 degrees: cosines are 0.5, 0, -1, ...
    deg = {"w0": 0, "w60": 60, "w90": 90, "w180": 180}
    words = list(deg)
    vecs = np.array(
        [[math.cos(math.radians(t)), math.sin(math.radians(t))] for t in deg.values()],
        dtype=np.float32,
    )
    ps = PairSet(
        name="mine",
        word1=["w0", "w0", "w0", "w60", "w0", "oov"],
        word2=["w60", "w90", "w180", "w90", "w0", "w0"],
        score=np.array([7.0, 5.0, 1.0, 7.0, 10.0, 3.0]),
    )
    # cosines: 0.5, 0, -1, cos30=0.866, 1            -> ranks 3, 2, 1, 4, 5
    # scores : 7,   5,  1,  7,          10           -> ranks 3.5, 2, 1, 3.5, 5
    # centred: (0, -1, -2, 1, 2) . (.5, -1, -2, .5, 2) = 0 + 1 + 4 + .5 + 4 = 9.5
    # |.|^2 = 10 and 9.5  ->  rho = 9.5 / sqrt(95)
    res = score_vectors(words, vecs, pair_sets=[ps], analogy_sets=[])
    assert set(res) == {"mine"} and set(res["mine"]) == PAIR_KEYS
    r = res["mine"]
    assert r["spearman"] == pytest.approx(9.5 / math.sqrt(95.0), abs=1e-9)
    assert (r["pairs"], r["pairs_total"]) == (5, 6)
    assert r["coverage"] == pytest.approx(5 / 6)


def test_pairs_match_lower_cased_vocab_and_nan_without_coverage() -> None:
    words = ["Paris", "paris", "France"]
    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]], dtype=np.float32)
    ps = PairSet("p", ["paris", "paris"], ["france", "nope"], np.array([1.0, 2.0]))
    r = score_vectors(words, vecs, pair_sets=[ps], analogy_sets=[])["p"]
    assert (r["pairs"], r["pairs_total"]) == (1, 2)
    assert math.isnan(r["spearman"])  # a single pair has no rank correlation
    empty = PairSet("e", ["x"], ["y"], np.array([1.0]))
    r = score_vectors(words, vecs, pair_sets=[empty], analogy_sets=[])["e"]
    assert r["pairs"] == 0 and r["coverage"] == 0.0 and math.isnan(r["spearman"])


def test_score_vectors_default_sets_and_shape() -> None:
    words, vecs = _model(CRAFTED)
    res = score_vectors(words, vecs)
    assert set(res) == {"wordsim353", "simlex999", "google_analogy"}
    assert set(res["wordsim353"]) == PAIR_KEYS and set(res["simlex999"]) == PAIR_KEYS
    assert set(res["google_analogy"]) == ANALOGY_KEYS
    assert res["wordsim353"]["pairs_total"] == 353
    assert res["simlex999"]["pairs_total"] == 999
    assert res["google_analogy"]["total"] == 19544
    extra = PairSet("mine", ["athens"], ["greece"], np.array([1.0]))
    pairs, _ = builtin_sets()
    res = score_vectors(words, vecs, pair_sets=pairs + [extra])
    assert set(res) == {"wordsim353", "simlex999", "mine", "google_analogy"}


def test_score_vectors_input_errors() -> None:
    words, vecs = _model(CRAFTED)
    with pytest.raises(ValueError, match="rows"):
        score_vectors(words[:-1], vecs, pair_sets=[], analogy_sets=[])
    with pytest.raises(ValueError, match="restrict_vocab"):
        score_vectors(words, vecs, restrict_vocab=0, pair_sets=[], analogy_sets=[])
    ps = PairSet("dup", ["a"], ["b"], np.array([1.0]))
    with pytest.raises(ValueError, match="unique"):
        score_vectors(words, vecs, pair_sets=[ps, ps], analogy_sets=[])


# ---------------------------------------------------------------- queries


def test_neighbors_and_analogy_queries() -> None:
    words, vecs = _model(CRAFTED)
    got = neighbors(words, vecs, "Baghdad", 2)
    assert [w for w, _ in got] == ["cairo", "iraq"]
    assert got[0][1] == pytest.approx(1.0 / math.sqrt(1.01), abs=1e-6)
    ans = analogy(words, vecs, "athens", "greece", "baghdad", k=2)
    assert ans[0][0] == "iraq" and ans[0][1] == pytest.approx(1.0, abs=1e-6)
    assert {w for w, _ in ans}.isdisjoint({"athens", "greece", "baghdad"})
    # Only the 3 most frequent words (= the query words) are candidates -> nothing left.
    assert analogy(words, vecs, "athens", "greece", "baghdad", restrict_vocab=3) == []
    # iraq is the 6th most frequent word, so with restrict_vocab=5 cairo is the answer.
    order = ["athens", "greece", "baghdad", "cairo", "zzz", "iraq"]
    v2 = np.array([CRAFTED[w] for w in order], dtype=np.float32)
    assert analogy(order, v2, "athens", "greece", "baghdad", restrict_vocab=5)[0][0] == "cairo"


def test_unknown_word_error_messages() -> None:
    words, vecs = _model(CRAFTED)
    with pytest.raises(UnknownWordError, match="'athen'.*did you mean 'athens'") as ei:
        neighbors(words, vecs, "athen", 3)
    assert isinstance(ei.value, ValueError) and ei.value.word == "athen"
    with pytest.raises(UnknownWordError, match="'xylophone'.*min_count"):
        analogy(words, vecs, "athens", "xylophone", "baghdad")


# ---------------------------------------------------------------- evalsets


def test_builtin_sets_contents() -> None:
    pairs, analogies = builtin_sets()
    assert [p.name for p in pairs] == ["wordsim353", "simlex999"]
    assert [len(p) for p in pairs] == [353, 999]
    (g,) = analogies
    assert g.name == "google_analogy" and len(g) == 19544
    assert int(g.semantic.sum()) == 8869  # capital-*, currency, city-in-state, family
    assert g.questions[0] == ("athens", "greece", "baghdad", "iraq")
    sem = {s for s, m in zip(g.sections, g.semantic, strict=True) if m}
    assert sem == {
        "capital-common-countries",
        "capital-world",
        "currency",
        "city-in-state",
        "family",
    }
    assert all(w == w.lower() for p in pairs for w in p.word1 + p.word2)


def test_load_files_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "pairs.tsv"
    good.write_text("# comment\nTiger\tCat\t7.35\n\nA  B 1\n", encoding="utf-8")
    ps = load_pair_set(good, "p")
    assert ps.word1 == ["tiger", "a"] and ps.word2 == ["cat", "b"]
    np.testing.assert_array_equal(ps.score, [7.35, 1.0])

    bad = tmp_path / "bad.tsv"
    bad.write_text("# c\nx\ty\t1\nx\ty\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 3"):
        load_pair_set(bad, "p")
    bad.write_text("x\ty\tlots\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 1.*not a number"):
        load_pair_set(bad, "p")

    qa = tmp_path / "q.txt"
    qa.write_text(": family\nBoy Girl Man Woman\n: gram8-plural\ncat cats dog dogs\n")
    aset = load_analogy_set(qa, "q")
    assert aset.questions == [("boy", "girl", "man", "woman"), ("cat", "cats", "dog", "dogs")]
    assert aset.sections == ["family", "gram8-plural"] and aset.semantic.tolist() == [True, False]
    qa.write_text(": family\nboy girl man\n")
    with pytest.raises(ValueError, match=r"q\.txt, line 2.*4 words"):
        load_analogy_set(qa, "q")
    qa.write_text("boy girl man woman\n")
    with pytest.raises(ValueError, match=r"q\.txt, line 1.*section"):
        load_analogy_set(qa, "q")


# ---------------------------------------------------------------- independent check: gensim


@pytest.fixture(scope="module")
def structured_model() -> Model:
    """2,000 eval-set words (plus fillers) with analogy- and similarity-shaped structure."""
    pairs, (google,) = builtin_sets()
    rng = np.random.default_rng(12345)
    dim = 50
    pool: set[str] = set()
    for p in pairs:
        pool |= set(p.word1) | set(p.word2)
    for q in google.questions:
        pool |= set(q)
    chosen = list(rng.permutation(sorted(pool)))[:1900] + [f"filler{i}" for i in range(100)]
    words = [str(w) for w in rng.permutation(chosen)]
    index = {w: i for i, w in enumerate(words)}
    vec = rng.normal(size=(len(words), dim))
    # Similarity structure: pull word2 towards word1 in proportion to the human score.
    for p in pairs:
        span = p.score.max() - p.score.min()
        for w1, w2, s in zip(p.word1, p.word2, p.score, strict=True):
            if w1 in index and w2 in index and w1 != w2:
                t = 0.6 * (s - p.score.min()) / span
                vec[index[w2]] = (1 - t) * vec[index[w2]] + t * vec[index[w1]]
    # Analogy structure: y = x + relation(section) + noise for each (x, y) pair.
    relation: dict[str, np.ndarray] = {}
    placed = np.zeros(len(words), dtype=bool)
    for sec, (a, b, c, d) in zip(google.sections, google.questions, strict=True):
        r = relation.setdefault(sec, rng.normal(size=dim))
        for x, y in ((a, b), (c, d)):
            if x in index and y in index and not placed[index[y]]:
                vec[index[y]] = vec[index[x]] + r + 0.6 * rng.normal(size=dim)
                placed[index[y]] = True
    return words, vec.astype(np.float32)


@pytest.fixture(scope="module")
def gensim_kv(structured_model: Model) -> Any:
    keyedvectors = pytest.importorskip("gensim.models.keyedvectors")
    words, vec = structured_model
    kv = keyedvectors.KeyedVectors(vec.shape[1])
    kv.add_vectors(words, vec)
    return kv


def _ordinal_spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman with ties broken by position (a plausible but wrong protocol)."""
    rx = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)
    ry = np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


@pytest.mark.parametrize(
    "name,fname", [("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")]
)
def test_similarity_matches_gensim(
    structured_model: Model, gensim_kv: Any, name: str, fname: str
) -> None:
    words, vec = structured_model
    ours = score_vectors(
        words, vec, pair_sets=[p for p in builtin_sets()[0] if p.name == name], analogy_sets=[]
    )[name]
    pearson, spear, oov_pct = gensim_kv.evaluate_word_pairs(
        str(EVAL_DIR / fname), restrict_vocab=len(words)
    )
    assert ours["spearman"] == pytest.approx(spear.statistic, abs=1e-6)
    assert ours["spearman"] > 0.2  # the structure is visible, so this is a real comparison
    assert 100.0 * (1.0 - ours["coverage"]) == pytest.approx(oov_pct, abs=1e-9)
    assert 0.5 < ours["coverage"] < 1.0
    # Sensitivity: Pearson, or ranks that ignore ties, would not pass the check above.
    assert abs(pearson.statistic - spear.statistic) > 1e-4
    if name == "wordsim353":  # many tied human scores
        (ps,) = [p for p in builtin_sets()[0] if p.name == name]
        idx = {w: i for i, w in enumerate(words)}
        ok = [i for i in range(len(ps)) if ps.word1[i] in idx and ps.word2[i] in idx]
        unit = normalize_rows(vec)
        cos = np.array([unit[idx[ps.word1[i]]] @ unit[idx[ps.word2[i]]] for i in ok])
        assert abs(_ordinal_spearman(cos, ps.score[ok]) - spear.statistic) > 1e-5


@pytest.mark.parametrize("restrict", [2000, 1200])
def test_analogies_match_gensim(structured_model: Model, gensim_kv: Any, restrict: int) -> None:
    words, vec = structured_model
    (google,) = builtin_sets()[1]
    ours = score_vectors(words, vec, restrict_vocab=restrict, pair_sets=[], analogy_sets=[google])[
        "google_analogy"
    ]
    score, sections = gensim_kv.evaluate_word_analogies(
        str(EVAL_DIR / "questions-words.txt"), restrict_vocab=restrict
    )
    per_section = [s for s in sections if s["section"] != "Total accuracy"]

    def acc(keep: Callable[[str], bool]) -> float:
        c = sum(len(s["correct"]) for s in per_section if keep(s["section"]))
        n = c + sum(len(s["incorrect"]) for s in per_section if keep(s["section"]))
        return c / n

    answered = sum(len(s["correct"]) + len(s["incorrect"]) for s in per_section)
    assert ours["answered"] == answered and ours["total"] == 19544
    assert ours["coverage"] == pytest.approx(answered / 19544, abs=1e-12)
    assert 0.05 < ours["coverage"] < 0.9
    assert ours["accuracy"] == pytest.approx(score, abs=1e-12)
    assert ours["semantic"] == pytest.approx(acc(lambda s: not s.startswith("gram")), abs=1e-12)
    assert ours["syntactic"] == pytest.approx(acc(lambda s: s.startswith("gram")), abs=1e-12)
    assert 0.2 < ours["accuracy"] < 0.98  # neither trivial nor saturated

    # Question-level agreement: the same questions are right.
    r_index = {w: i for i, w in enumerate(words[:restrict])}
    quads = [q for q in google.questions if all(w in r_index for w in q)]
    qi = np.array([[r_index[w] for w in q] for q in quads])
    unit = normalize_rows(vec[:restrict])
    pred = analogy_argmax(unit, qi[:, 0], qi[:, 1], qi[:, 2], "add")
    ours_correct = {
        tuple(w.upper() for w in q) for q, p in zip(quads, pred, strict=True) if words[p] == q[3]
    }
    gensim_correct = {q for s in per_section for q in s["correct"]}
    assert ours_correct == gensim_correct

    # Sensitivity: forgetting to exclude a, b, c would change the accuracy a lot.
    q = unit[qi[:, 1]].astype(np.float64) - unit[qi[:, 0]] + unit[qi[:, 2]]
    naive = np.argmax(q @ unit.T.astype(np.float64), axis=1)
    assert abs(float(np.mean(naive == qi[:, 3])) - score) > 0.1
    # ... and so would ignoring restrict_vocab.
    if restrict < len(words):
        unrestricted = score_vectors(
            words, vec, restrict_vocab=None, pair_sets=[], analogy_sets=[google]
        )["google_analogy"]
        assert unrestricted["answered"] != answered


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim calls init_sims()
def test_3cosmul_matches_gensim_cosmul(structured_model: Model) -> None:
    keyedvectors = pytest.importorskip("gensim.models.keyedvectors")
    words, vec = structured_model
    restrict = 1500
    kv = keyedvectors.KeyedVectors(vec.shape[1])  # gensim's cosmul ignores restrict_vocab
    kv.add_vectors(words[:restrict], vec[:restrict])
    (google,) = builtin_sets()[1]
    r_index = {w: i for i, w in enumerate(words[:restrict])}
    quads = [q for q in google.questions if all(w in r_index for w in q)][::10]
    qi = np.array([[r_index[w] for w in q] for q in quads])
    unit = normalize_rows(vec[:restrict])
    # gensim hard-codes eps = 1e-6 (Levy & Goldberg, and our default, use 1e-3).
    ours = analogy_argmax(unit, qi[:, 0], qi[:, 1], qi[:, 2], "mul", eps=1e-6)
    theirs = [
        kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] for a, b, c, _ in quads
    ]
    assert [words[p] for p in ours] == theirs
    assert len(quads) > 100
