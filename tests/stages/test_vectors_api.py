"""embedpipe.Vectors: files, queries against gensim, evaluation, and the vectors table read by delta-rs.

Only the table tests start Spark (to write the table as the trainers do);
the rest is numpy and files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedpipe import Vectors
from embedpipe.errors import TableError, UnknownWordError, VectorFileError

keyedvectors = pytest.importorskip("gensim.models.keyedvectors")
KeyedVectors = keyedvectors.KeyedVectors

QUERIES = ["king", "queen", "w17", "w250"]
ANALOGIES = [(["king", "woman"], ["man"]), (["paris", "germany"], ["france"]), (["w13", "w40", "w17"], ["w99"])]


@pytest.fixture(scope="module")
def vectors() -> Vectors:
    rng = np.random.default_rng(7)
    n, dim = 400, 16
    words = [f"w{i}" for i in range(n)]
    words[:10] = ["the", "king", "queen", "man", "woman", "paris", "france", "berlin", "germany", "café"]
    matrix = rng.normal(size=(n, dim)).astype(np.float32)
    # Some structure, so that neighbours are not only noise: queen ~ king - man + woman.
    matrix[2] = matrix[1] - matrix[3] + matrix[4] + 0.1 * rng.normal(size=dim)
    matrix[7] = matrix[5] - matrix[6] + matrix[8] + 0.1 * rng.normal(size=dim)
    return Vectors.from_arrays(words, matrix, counts=np.arange(n, 0, -1))


@pytest.fixture(scope="module")
def w2v_file(vectors: Vectors, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("w2v") / "vectors.txt")
    vectors.save(path, "word2vec")
    return path


@pytest.fixture(scope="module")
def kv(w2v_file: str) -> Any:
    return KeyedVectors.load_word2vec_format(w2v_file, binary=False)


# ---- files -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "fasttext"])
def test_each_format_round_trips_exactly(vectors: Vectors, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"v.{fmt}"
    vectors.save(path, fmt)
    back = Vectors.load(path, fmt)
    assert back.words == vectors.words
    assert back.matrix.dtype == np.float32 and np.array_equal(back.matrix, vectors.matrix)
    assert back.metadata["format"] == ("word2vec" if fmt == "fasttext" else fmt)


@pytest.mark.parametrize("binary", [False, True])
def test_reads_what_gensim_writes(kv: Any, tmp_path: Path, binary: bool) -> None:
    path = tmp_path / "gensim.vec"
    kv.save_word2vec_format(str(path), binary=binary)
    v = Vectors.load(path, "word2vec-binary" if binary else "word2vec")
    assert v.words == list(kv.index_to_key)
    assert np.array_equal(v.matrix, kv.vectors)


def test_glove_file_read_as_word2vec_says_to_use_glove(vectors: Vectors, tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    vectors.save(path, "glove")
    with pytest.raises(VectorFileError, match=r"line 1: the first line should be the header .* format='glove'"):
        Vectors.load(path, "word2vec")


def test_a_line_of_the_wrong_dimension_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("3 3\na 1 2 3\nb 1 2\nc 1 2 3\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match=r"bad.txt line 3: 2 values after the word b'b', expected 3"):
        Vectors.load(path)
    glove = tmp_path / "bad-glove.txt"
    glove.write_text("a 1 2 3\nb 1 2 3 4\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match=r"line 2: 4 values .* expected 3 \(the first line's dimension\)"):
        Vectors.load(glove, "glove")


def test_a_text_file_shorter_than_its_header_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("3 2\na 1 2\nb 3 4\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match="the header says 3 vectors, the file has 2; it is truncated"):
        Vectors.load(path)


def test_a_truncated_binary_file_is_named(vectors: Vectors, tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    vectors.save(path, "word2vec-binary")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(VectorFileError, match=f"truncated after {len(vectors) - 1} of the {len(vectors)} vectors"):
        Vectors.load(path, "word2vec-binary")


def test_non_utf8_words_name_the_encoding_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("2 2\ncaf\u00e9 1 2\nthe 3 4\n".encode("latin-1"))
    with pytest.raises(VectorFileError, match=r"line 2: the word b'caf\\xe9' is not valid utf-8.*encoding='latin-1'"):
        Vectors.load(path)
    assert Vectors.load(path, encoding="latin-1").words == ["café", "the"]


def test_a_value_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nan.txt"
    path.write_text("a 1 2\nb 1 x\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match=r"line 2: a value after the word b'b' is not a number"):
        Vectors.load(path, "glove")


# ---- queries against gensim ------------------------------------------------------


@pytest.mark.parametrize("word", QUERIES)
def test_most_similar_of_a_word_is_gensims(vectors: Vectors, kv: Any, word: str) -> None:
    ours = vectors.most_similar(word)
    theirs = kv.most_similar(word, topn=10)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
    assert word not in [w for w, _ in ours]


@pytest.mark.parametrize("positive,negative", ANALOGIES)
def test_most_similar_with_negatives_is_gensims(vectors: Vectors, kv: Any, positive: list, negative: list) -> None:
    ours = vectors.most_similar(positive=positive, negative=negative)
    theirs = kv.most_similar(positive=positive, negative=negative, topn=10)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
    assert not set(positive + negative) & {w for w, _ in ours}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's cosmul calls init_sims()
@pytest.mark.parametrize("positive,negative", [(["king"], []), *ANALOGIES])
def test_most_similar_3cosmul_is_gensims_cosmul(vectors: Vectors, kv: Any, positive: list, negative: list) -> None:
    ours = vectors.most_similar(positive=positive, negative=negative, method="3cosmul")
    theirs = kv.most_similar_cosmul(positive=positive, negative=negative, topn=10)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)


def test_restrict_vocab_limits_the_answers_as_gensim_does(vectors: Vectors, kv: Any) -> None:
    ours = vectors.most_similar("w250", topn=10, restrict_vocab=50)
    assert [w for w, _ in ours] == [w for w, _ in kv.most_similar("w250", topn=10, restrict_vocab=50)]
    assert all(vectors.row(w) < 50 for w, _ in ours)


def test_the_analogy_structure_is_found(vectors: Vectors) -> None:
    assert vectors.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    assert vectors.most_similar(["paris", "germany"], ["france"], topn=1, method="3cosmul")[0][0] == "berlin"


def test_similarity_and_doesnt_match_are_gensims(vectors: Vectors, kv: Any) -> None:
    for a, b in [("king", "queen"), ("man", "w300"), ("café", "the")]:
        assert vectors.similarity(a, b) == pytest.approx(float(kv.similarity(a, b)), abs=1e-6)
    for group in (["king", "queen", "man", "w17"], ["paris", "berlin", "france", "w15"]):
        assert vectors.doesnt_match(group) == kv.doesnt_match(group)


def test_lookup_by_word(vectors: Vectors) -> None:
    assert np.array_equal(vectors["queen"], vectors.matrix[2])
    assert np.array_equal(vectors["QUEEN"], vectors.matrix[2])  # lower-cased as the evaluation does
    assert vectors[["king", "man"]].shape == (2, vectors.dim)
    assert "king" in vectors and "kingg" not in vectors and 3 not in vectors


def test_an_unknown_word_gets_a_did_you_mean_hint(vectors: Vectors) -> None:
    with pytest.raises(
        UnknownWordError, match=r"word 'kingg' is not in the vocabulary \(400 words\); did you mean 'king'"
    ):
        vectors.most_similar("kingg")
    with pytest.raises(UnknownWordError, match="did you mean 'queen'"):
        vectors.similarity("king", "quen")
    with pytest.raises(UnknownWordError, match="did you mean 'paris'"):
        vectors["pariss"]


def test_normalized_has_unit_rows_and_the_same_neighbours(vectors: Vectors) -> None:
    unit = vectors.normalized()
    assert np.allclose(np.linalg.norm(unit.matrix, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(np.linalg.norm(vectors.matrix, axis=1), 1.0)  # the original is untouched
    ours, before = unit.most_similar("king"), vectors.most_similar("king")
    assert [w for w, _ in ours] == [w for w, _ in before]
    assert np.allclose([s for _, s in ours], [s for _, s in before], atol=1e-6)


# ---- evaluation -------------------------------------------------------------------


def test_evaluate_a_users_pair_file_as_gensim_does(vectors: Vectors, kv: Any, tmp_path: Path) -> None:
    pairs = tmp_path / "mine.tsv"
    rows = [("king", "queen", 9.0), ("man", "woman", 8.0), ("paris", "berlin", 7.5), ("the", "w40", 1.0),
            ("france", "germany", 7.0), ("w13", "w19", 2.5), ("café", "w11", 3.0),
            ("king", "nosuchword", 5.0)]  # fmt: skip
    pairs.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows), encoding="utf-8")
    result = vectors.evaluate(pairs=[pairs], builtin=False)
    _, spearman, oov = kv.evaluate_word_pairs(str(pairs))
    assert set(result) == {"mine"}
    assert result["mine"]["spearman"] == pytest.approx(spearman.statistic, abs=1e-9)
    assert result["mine"]["pairs"] == 7 and oov == pytest.approx(100 / 8)


def test_evaluate_runs_the_shipped_sets_and_a_users_analogies(vectors: Vectors, tmp_path: Path) -> None:
    questions = tmp_path / "mine.txt"
    questions.write_text(": capitals\nfrance paris germany berlin\n: royals\nman king woman queen\n", encoding="utf-8")
    result = vectors.evaluate(analogies=[questions])
    assert set(result) == {"wordsim353", "simlex999", "google_analogy", "mine"}
    assert result["mine"]["accuracy"] == 1.0 and result["mine"]["answered"] == 2


# ---- the vectors table, read without Spark -----------------------------------------


def _write(spark: Any, root: str, model: str, run_id: str, v: Vectors) -> None:
    from embedpipe.vectors import write_vectors

    write_vectors(
        spark, root, model=model, run_id=run_id, words=v.words, counts=v.counts, matrix=v.matrix,
        metadata={"config": {"dim": v.dim}},
    )  # fmt: skip


def test_from_table_reads_what_the_trainers_wrote(spark: Any, tmp_path: Path, vectors: Vectors) -> None:
    from embedpipe.vectors import read_vectors

    root = str(tmp_path / "out")
    first = Vectors.from_arrays(vectors.words[:50], vectors.matrix[:50] * 2, counts=vectors.counts[:50])
    _write(spark, root, "sgns", "run-1", first)
    _write(spark, root, "glove", "run-g", Vectors.from_arrays(["a", "b"], np.eye(2), counts=[2, 1]))
    _write(spark, root, "sgns", "run-2", vectors)

    spark_read = read_vectors(spark, root, "sgns")
    for path in (root, root + "/vectors"):
        v = Vectors.from_table(path, model="sgns")
        assert v.run_id == "run-2" == spark_read.run_id
        assert v.words == spark_read.words
        assert np.array_equal(v.matrix, spark_read.matrix) and np.array_equal(v.counts, spark_read.counts)
        assert v.metadata == spark_read.metadata
        assert v.most_similar("king") == vectors.most_similar("king")

    # An earlier run, from the table's history.
    old = Vectors.from_table(root, model="sgns", run_id="run-1")
    assert old.words == first.words and np.array_equal(old.matrix, first.matrix) and old.metadata["vocab_size"] == 50
    assert Vectors.from_table(root, model="glove").words == ["a", "b"]

    with pytest.raises(TableError, match=r"no vectors for model 'cbow' .* models present: \['glove', 'sgns'\]"):
        Vectors.from_table(root, model="cbow")
    with pytest.raises(TableError, match=r"no run 'run-9' of model 'sgns' .* runs present: \['run-2', 'run-1'\]"):
        Vectors.from_table(root, model="sgns", run_id="run-9")
    with pytest.raises(TableError, match="no Delta table at"):
        Vectors.from_table(str(tmp_path / "nothing"))


def test_the_readme_example_runs_as_written(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Vectors in Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    words = ["the", "france", "paris", "king", "man", "woman", "queen", "berlin", "london", "apple", "germany"]
    words += [f"w{i}" for i in range(40)]
    v = Vectors.from_arrays(words, np.random.default_rng(3).normal(size=(len(words), 8)), counts=range(51, 0, -1))
    _write(spark, str(tmp_path / "runs" / "demo"), "sgns", "run-1", v)  # the JVM keeps its own working folder
    v.save("GoogleNews-vectors.bin", "word2vec-binary")
    Path("my_pairs.tsv").write_text("king\tqueen\t9\nparis\tfrance\t8\napple\tman\t1\n", encoding="utf-8")
    Path("my_questions.txt").write_text(": capitals\nfrance paris germany berlin\n", encoding="utf-8")
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - the documented example, as written
    assert Path("sgns.bin").exists() and Vectors.load("sgns.bin", "word2vec-binary").words == words


def test_importing_vectors_needs_no_pyspark() -> None:
    code = "import sys; from embedpipe import Vectors; import embedpipe.vectors; print('pyspark' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
