"""embedpipe.ml: SkipGram and GloVe in Spark ML pipelines, against MLlib's Word2VecModel, saved and loaded.

Real Spark, real tables, tiny models: each fit trains a few hundred lines
of the shipped sample for one or two epochs.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.feature import StopWordsRemover, Tokenizer, Word2Vec
from pyspark.ml.linalg import DenseVector

from embedpipe import Vectors, distributed
from embedpipe.errors import ConfigError, UnknownWordError
from embedpipe.ml import GloVeModel, SkipGram, SkipGramModel
from embedpipe.ml.docvectors import SIF_A

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "embedpipe" / "data" / "demo" / "wiki_sample.txt.gz"
VIEWFS = "viewfs:///embedpipe-test"


def sample_lines(start: int, n: int) -> list[str]:
    """``n`` lines of at least 8 words from line ``start`` of the sample (headings left out)."""
    out: list[str] = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= start and len(line.split()) >= 8:
                out.append(line.strip())
                if len(out) == n:
                    break
    return out


@pytest.fixture(scope="module")
def labelled(spark: Any) -> Any:
    """Lines of the sample's first articles (label 0: anarchism, autism ...) and of
    articles 20,000 lines further (label 1): a topic label a classifier can learn."""
    rows = [(i, line, 0.0) for i, line in enumerate(sample_lines(0, 120))]
    rows += [(1000 + i, line, 1.0) for i, line in enumerate(sample_lines(20000, 120))]
    return spark.createDataFrame(rows, "id long, text string, label double")


@pytest.fixture(scope="module")
def tokenized(spark: Any, labelled: Any) -> Any:
    words = Tokenizer(inputCol="text", outputCol="words").transform(labelled)
    return StopWordsRemover(inputCol="words", outputCol="tokens").transform(words).cache()


@pytest.fixture
def in_folder(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path as a notebook started there: Python's working folder and
    the one the JVM resolves relative Hadoop paths against (which a chdir does not move)."""
    monkeypatch.chdir(tmp_path)
    jpath, fs = distributed.hadoop_path(spark, str(tmp_path))
    before = fs.getWorkingDirectory()
    fs.setWorkingDirectory(jpath)
    try:
        yield tmp_path
    finally:
        fs.setWorkingDirectory(before)


def readme_example(heading: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def predictions(model: Any, df: Any) -> list[tuple[int, float, list[float]]]:
    rows = model.transform(df).select("id", "prediction", "probability").orderBy("id").collect()
    return [(r["id"], r["prediction"], r["probability"].toArray().tolist()) for r in rows]


@pytest.mark.slow  # a whole training run
def test_a_pipeline_with_skipgram_fits_saves_loads_and_predicts_the_same(spark: Any, labelled: Any, in_folder: Path):
    """The README's Spark ML example, as written: Tokenizer, StopWordsRemover, SkipGram, LogisticRegression."""
    train_df, test_df = labelled.filter("id % 4 != 0"), labelled.filter("id % 4 = 0")
    scope: dict[str, Any] = {"spark": spark, "train_df": train_df, "test_df": test_df}
    exec(compile(readme_example("## Spark ML"), "README.md", "exec"), scope)  # noqa: S102 - as documented
    model, loaded = scope["model"], PipelineModel.load("models/topics")
    assert [type(s).__name__ for s in loaded.stages] == [
        "Tokenizer", "StopWordsRemover", "SkipGramModel", "LogisticRegressionModel"
    ]  # fmt: skip
    skipgram, back = model.stages[2], loaded.stages[2]
    assert back.uid == skipgram.uid and back.getVectorSize() == skipgram.getVectorSize() == 50
    assert back.toVectors().words == skipgram.toVectors().words
    assert np.array_equal(back.toVectors().matrix, skipgram.toVectors().matrix)
    # The same predictions and probabilities, bit for bit, on rows the model has not seen.
    fitted, reloaded = predictions(model, test_df), predictions(loaded, test_df)
    assert len(fitted) == test_df.count() > 0
    assert fitted == reloaded
    assert scope["predictions"].count() == len(fitted)
    features = model.transform(test_df).select("features").first()["features"]
    assert isinstance(features, DenseVector) and len(features) == 50
    # The tables of the fit are where workDir says, under the notebook's folder.
    assert (in_folder / "runs" / "skipgram" / "vectors" / "_delta_log").is_dir()


def test_transform_and_find_synonyms_are_mllibs_on_mllibs_vectors(spark: Any, tokenized: Any):
    """An MLlib Word2VecModel's vectors in a SkipGramModel: the same document vectors and synonyms."""
    mllib = Word2Vec(inputCol="tokens", outputCol="doc", vectorSize=6, minCount=3, maxIter=1, seed=7).fit(tokenized)
    table = mllib.getVectors().toPandas()
    ours = SkipGramModel.fromVectors(
        Vectors.from_arrays(list(table["word"]), np.stack([v.toArray() for v in table["vector"]])),
        inputCol="tokens", outputCol="doc",
    )  # fmt: skip
    docs = tokenized.select("id", "tokens").union(
        spark.createDataFrame([(-1, []), (-2, ["qqqunknown"]), (-3, ["qqqunknown", table["word"][0]])],
                              "id long, tokens array<string>")
    )  # fmt: skip
    theirs = {r["id"]: r["doc"].toArray() for r in mllib.transform(docs).collect()}
    got = {r["id"]: r["doc"] for r in ours.transform(docs).collect()}
    assert set(got) == set(theirs)
    assert all(isinstance(v, DenseVector) for v in got.values())
    for key, vec in theirs.items():
        # MLlib's vectors are float32; ours are the same floats, summed in the same order.
        np.testing.assert_allclose(got[key].toArray(), vec, rtol=1e-6, atol=1e-7, err_msg=f"row {key}")
    assert not got[-1].toArray().any() and not got[-2].toArray().any()
    np.testing.assert_allclose(got[-3].toArray(), ours.toVectors().matrix[0] / 2, rtol=1e-6)
    for word in ("anarchism", "autism"):
        want = [(r["word"], r["similarity"]) for r in mllib.findSynonyms(word, 5).collect()]
        mine = [(r["word"], r["similarity"]) for r in ours.findSynonyms(word, 5).collect()]
        assert [w for w, _ in mine] == [w for w, _ in want]
        np.testing.assert_allclose([s for _, s in mine], [s for _, s in want], atol=1e-5)
    # By a vector, the word itself is an answer, as in MLlib.
    query = mllib.getVectors().filter("word = 'anarchism'").first()["vector"]
    want = mllib.findSynonymsArray(query, 4)
    mine = ours.findSynonymsArray(query, 4)
    assert [w for w, _ in mine] == [w for w, _ in want] and mine[0][0] == "anarchism"
    np.testing.assert_allclose([s for _, s in mine], [s for _, s in want], atol=1e-5)
    with pytest.raises(UnknownWordError, match="did you mean"):
        ours.findSynonyms("anarchismm", 3)


def test_sif_weights_each_known_word_by_its_frequency(spark: Any):
    words, counts = ["the", "cat", "sat"], np.array([900, 60, 40])
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    model = SkipGramModel.fromVectors(
        Vectors.from_arrays(words, matrix, counts=counts), inputCol="t", outputCol="v", docVector="sif"
    )
    df = spark.createDataFrame([(["the", "cat", "dog"],), (["sat"],)], "t array<string>")
    got = [r["v"].toArray() for r in model.transform(df).collect()]
    weight = {w: SIF_A / (SIF_A + c / counts.sum()) for w, c in zip(words, counts, strict=True)}
    np.testing.assert_allclose(got[0], (weight["the"] * matrix[0] + weight["cat"] * matrix[1]) / 3)
    np.testing.assert_allclose(got[1], weight["sat"] * matrix[2])
    no_counts = SkipGramModel.fromVectors(Vectors.from_arrays(words, matrix), inputCol="t", docVector="sif")
    with pytest.raises(ValueError, match="SIF weights need the words' counts"):
        no_counts.transform(df)


@pytest.mark.slow  # a whole training run
def test_the_readme_glove_example_runs_and_its_model_saves_on_a_hadoop_path(
    spark: Any, tokenized: Any, in_folder: Path
):
    scope: dict[str, Any] = {"spark": spark, "tokenized": tokenized}
    exec(compile(readme_example("its models save and load alone too:"), "README.md", "exec"), scope)  # noqa: S102
    glove, model, same = scope["glove"], scope["model"], scope["same"]
    assert isinstance(model, GloVeModel) and model.getVectorSize() == glove.getVectorSize() == 50
    assert model.uid == glove.uid
    assert (in_folder / "runs" / "glove" / "cooccurrence" / "_delta_log").is_dir()
    vectors = model.getVectors()
    assert vectors.columns == ["word", "vector"] and vectors.count() == len(model.toVectors()) > 100
    assert len(vectors.first()["vector"]) == 50
    synonyms = model.findSynonyms("anarchism", 4)
    assert synonyms.columns == ["word", "similarity"] and synonyms.count() == 4
    assert "anarchism" not in {r["word"] for r in synonyms.collect()}
    before = [r["doc"] for r in scope["docs"].orderBy("id").collect()]
    assert [r["doc"] for r in same.transform(tokenized).orderBy("id").collect()] == before
    path = f"{VIEWFS}/models/glove-{in_folder.name}"  # Python's open() cannot reach it; Hadoop can
    model.write().overwrite().save(path)
    back = GloVeModel.load(path)
    assert back.uid == model.uid and back.getMaxIter() == 3 and back.getWindowSize() == 10
    assert back.getDocVector() == "sif" and back.toVectors().words == model.toVectors().words
    assert np.array_equal(back.toVectors().matrix, model.toVectors().matrix)
    assert np.array_equal(back.toVectors().counts, model.toVectors().counts)
    with pytest.raises(ValueError, match="holds a embedpipe.ml.estimators.GloVeModel, not a .*SkipGramModel"):
        SkipGramModel.load(path)


def test_estimators_save_and_load_their_params(tmp_path: Path):
    sg = SkipGram(inputCol="t", vectorSize=12, windowSize=3, settings={"sgns.negative": 10}, docVector="sif")
    sg.write().overwrite().save(str(tmp_path / "sg"))
    back = SkipGram.load(str(tmp_path / "sg"))
    assert back.uid == sg.uid and back.extractParamMap() == {back.getParam(p.name): v for p, v in
                                                             sg.extractParamMap().items()}  # fmt: skip
    assert back.getSettings() == {"sgns.negative": 10}


def test_bad_params_fail_before_training(spark: Any, labelled: Any, tokenized: Any, tmp_path: Path):
    with pytest.raises(ValueError, match=r"inputCol 'text' must be array<string> \(tokens, .*\), got string"):
        SkipGram(inputCol="text", workDir=str(tmp_path)).fit(labelled)
    with pytest.raises(ConfigError, match="sgns.dim must be in 1..10000, got 0"):
        SkipGram(inputCol="tokens", vectorSize=0, workDir=str(tmp_path)).fit(tokenized)
    with pytest.raises(ValueError, match=r"settings \['sgns.dim'\] are Params of SkipGram: set \['vectorSize'\]"):
        SkipGram(inputCol="tokens", settings={"sgns.dim": 5}, workDir=str(tmp_path)).fit(tokenized)
    with pytest.raises(ConfigError, match="unknown config key sgns.negativ"):
        SkipGram(inputCol="tokens", settings={"sgns.negativ": 5}, workDir=str(tmp_path)).fit(tokenized)
    assert not (tmp_path / "tokens").exists()
