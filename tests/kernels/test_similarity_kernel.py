"""Tests of embedpipe.kernels.similarity on hand-made vectors (pure numpy)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest

from embedpipe.kernels.similarity import (
    analogy_argmax,
    cosine_pairs,
    normalize_rows,
    spearman,
    top_k,
)

Method = Literal["add", "mul"]

# ---------------------------------------------------------------- reference helpers


def _ref_analogy(
    vectors: np.ndarray, a: int, b: int, c: int, method: str, eps: float = 1e-3
) -> int:
    """Plain-Python float64 reference of 3CosAdd / 3CosMul (excluding a, b, c)."""
    unit = [np.asarray(v, dtype=np.float64) / np.linalg.norm(v) for v in vectors]
    q = unit[b] - unit[a] + unit[c]
    q = q / np.linalg.norm(q)
    best, best_score = -1, -math.inf
    for j, d in enumerate(unit):
        if j in (a, b, c):
            continue
        if method == "add":
            s = float(d @ q)
        else:
            cp = [(float(d @ unit[i]) + 1.0) / 2.0 for i in (a, b, c)]
            s = cp[1] * cp[2] / (cp[0] + eps)
        if s > best_score:
            best, best_score = j, s
    return best


# ---------------------------------------------------------------- normalize_rows


def test_normalize_rows_unit_norm_and_zero_rows() -> None:
    m = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=np.float64)
    before = m.copy()
    u = normalize_rows(m)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u[0], [0.6, 0.8], rtol=1e-7)
    np.testing.assert_array_equal(u[1], [0.0, 0.0])
    np.testing.assert_array_equal(u[2], [-1.0, 0.0])
    np.testing.assert_array_equal(m, before)  # input untouched


def test_normalize_rows_rejects_1d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        normalize_rows(np.ones(3))


# ---------------------------------------------------------------- spearman


def test_spearman_hand_computed_with_ties() -> None:
    # x ranks (average for the tie): 1, 2.5, 2.5, 4 ; y ranks: 1, 2, 3, 4
    # centred: (-1.5, 0, 0, 1.5) . (-1.5, -0.5, 0.5, 1.5) = 4.5 ; |rx|^2 = 4.5 ; |ry|^2 = 5
    # rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    rho = spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0, 40.0]))
    assert rho == pytest.approx(3.0 / math.sqrt(10.0), abs=1e-12)


def test_spearman_ties_on_both_sides() -> None:
    # x ranks: 1.5, 1.5, 3, 4 ; y ranks: 1, 2.5, 2.5, 4 (means 2.5)
    # centred: (-1, -1, .5, 1.5) . (-1.5, 0, 0, 1.5) = 1.5 + 2.25 = 3.75
    # |rx|^2 = 1 + 1 + .25 + 2.25 = 4.5 ; |ry|^2 = 2.25 + 2.25 = 4.5 -> rho = 3.75 / 4.5
    rho = spearman(np.array([5.0, 5.0, 6.0, 9.0]), np.array([1.0, 7.0, 7.0, 8.0]))
    assert rho == pytest.approx(3.75 / 4.5, abs=1e-12)


def test_spearman_is_rank_based() -> None:
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    assert spearman(x, np.exp(10 * x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


def test_spearman_matches_scipy_on_heavily_tied_data() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 7, size=200).astype(float)
    y = x + rng.integers(0, 5, size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([], []),
        ([1.0], [2.0]),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),  # zero variance
        ([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0]),
    ],
)
def test_spearman_nan_cases(x: list[float], y: list[float]) -> None:
    assert math.isnan(spearman(np.array(x), np.array(y)))


def test_spearman_length_mismatch() -> None:
    with pytest.raises(ValueError, match="equal length"):
        spearman(np.ones(3), np.ones(4))


# ---------------------------------------------------------------- cosine_pairs


def test_cosine_pairs_known_values() -> None:
    unit = normalize_rows(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-3.0, 0.0]]))
    cos = cosine_pairs(unit, np.array([0, 0, 0, 1]), np.array([1, 2, 3, 1]))
    np.testing.assert_allclose(cos, [math.sqrt(0.5), 0.0, -1.0, 1.0], atol=1e-7)


# ---------------------------------------------------------------- analogy_argmax

# 2-D vectors where 3CosAdd and 3CosMul disagree (a : b :: c : ?, a=0, b=1, c=2):
#   b - a + c = (-2, 1), so X = (-2, 1) has cos 1 and wins 3CosAdd;
#   Y = (-1, 0.1) is almost opposite to a: cos'(Y,a) ~ 0.0025, so 3CosMul gives
#   ~0.55 * 0.998 / 0.0035 ~ 157 versus ~12.7 for X.
#   c itself would win 3CosMul (0.5 * 1 / 0.001 = 500) if it were not excluded.
ADD_MUL = np.array(
    [
        [1.0, 0.0],  # 0 a
        [0.0, 1.0],  # 1 b
        [-1.0, 0.0],  # 2 c
        [-2.0, 1.0],  # 3 X: 3CosAdd answer
        [-1.0, 0.1],  # 4 Y: 3CosMul answer
        [0.0, -1.0],  # 5 filler
    ]
)

# 2-D vectors where b is a tiny offset of a, so b - a + c ~ c: without excluding
# c the answer would be c; the right answer is d = 3.
EXCLUDE = np.array(
    [
        [1.0, 0.0],  # 0 a
        [1.0, 0.1],  # 1 b
        [0.0, 1.0],  # 2 c
        [0.1, 1.0],  # 3 d
        [-1.0, -1.0],  # 4 filler
    ]
)


def test_add_and_mul_give_known_different_answers() -> None:
    unit = normalize_rows(ADD_MUL)
    a, b, c = np.array([0]), np.array([1]), np.array([2])
    assert analogy_argmax(unit, a, b, c, "add").tolist() == [3]
    assert analogy_argmax(unit, a, b, c, "mul").tolist() == [4]
    assert _ref_analogy(ADD_MUL, 0, 1, 2, "add") == 3
    assert _ref_analogy(ADD_MUL, 0, 1, 2, "mul") == 4


def test_excludes_question_words() -> None:
    unit = normalize_rows(EXCLUDE)
    # Sanity: the un-excluded nearest neighbour of b - a + c is c itself.
    q = unit[1].astype(np.float64) - unit[0] + unit[2]
    assert int(np.argmax(unit @ q)) == 2
    for method in ("add", "mul"):
        pred = analogy_argmax(unit, np.array([0]), np.array([1]), np.array([2]), method)
        assert pred.tolist() == [3], method


def test_mul_excludes_c_which_would_otherwise_win() -> None:
    unit = normalize_rows(ADD_MUL)
    cp = (unit @ unit.T + 1.0) / 2.0
    scores = cp[1] * cp[2] / (cp[0] + 1e-3)
    assert int(np.argmax(scores)) == 2  # c, without exclusion
    assert analogy_argmax(unit, np.array([0]), np.array([1]), np.array([2]), "mul")[0] == 4


def test_no_candidate_left_returns_minus_one() -> None:
    unit = normalize_rows(np.eye(3))
    assert analogy_argmax(unit, np.array([0]), np.array([1]), np.array([2]), "add").tolist() == [-1]


@pytest.mark.parametrize("method", ["add", "mul"])
@pytest.mark.parametrize("reuse", [True, False], ids=["few-distinct-words", "all-distinct"])
def test_matches_reference_and_block_size(method: Method, reuse: bool) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 16))
    nq = 150
    pool = 20 if reuse else 300  # few distinct words -> gather path; many -> direct path
    abc = np.stack([rng.choice(pool, size=3, replace=False) for _ in range(nq)])
    a, b, c = abc[:, 0], abc[:, 1], abc[:, 2]
    unit = normalize_rows(vectors)
    expected = [_ref_analogy(vectors, int(x), int(y), int(z), method) for x, y, z in abc]
    for block in (1, 7, 1024):
        got = analogy_argmax(unit, a, b, c, method, block=block)
        assert got.tolist() == expected, f"block={block}"
        assert not np.any((got == a) | (got == b) | (got == c))


def test_eps_parameter_changes_mul_scores() -> None:
    # With a huge eps the denominator is ~constant and 3CosMul ~ cos'(d,b) cos'(d,c),
    # which prefers X (3) over Y (4) here.
    unit = normalize_rows(ADD_MUL)
    a, b, c = np.array([0]), np.array([1]), np.array([2])
    assert analogy_argmax(unit, a, b, c, "mul").tolist() == [4]
    assert analogy_argmax(unit, a, b, c, "mul", eps=1e6).tolist() == [3]
    assert _ref_analogy(ADD_MUL, 0, 1, 2, "mul", 1e6) == 3


def test_analogy_argmax_validates_inputs() -> None:
    unit = normalize_rows(ADD_MUL)
    one = np.array([0])
    with pytest.raises(ValueError, match="'add'"):
        analogy_argmax(unit, one, one, one, "sub")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        analogy_argmax(unit, one, np.array([6]), one, "add")
    with pytest.raises(ValueError, match="equal length"):
        analogy_argmax(unit, one, np.array([0, 1]), one, "add")


# ---------------------------------------------------------------- top_k


def test_top_k_order_exclusion_and_ties() -> None:
    unit = normalize_rows(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0], [-1.0, 0.0]]))
    idx, sims = top_k(unit, np.array([5.0, 5.0]), k=3, exclude=[])
    # rows 2 and 3 tie at cos 1 -> lower index first; then rows 0/1 tie at sqrt(.5).
    assert idx.tolist() == [2, 3, 0]
    np.testing.assert_allclose(sims, [1.0, 1.0, math.sqrt(0.5)], atol=1e-6)
    idx, _ = top_k(unit, np.array([1.0, 1.0]), k=10, exclude=[2, 99])
    assert idx.tolist() == [3, 0, 1, 4]
    idx, sims = top_k(unit, np.array([1.0, 0.0]), k=0)
    assert idx.size == 0 and sims.size == 0
