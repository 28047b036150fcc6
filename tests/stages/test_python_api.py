"""embedpipe.train: the README's notebook example, DataFrame and path inputs, and config checks.

Every run is a real pipeline on the suite's Spark session and real Delta
tables under tmp_path, on a slice of the shipped sample.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import embedpipe
from embedpipe import Vectors, tables
from embedpipe.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "embedpipe" / "data" / "demo" / "wiki_sample.txt.gz"


def sample_lines(n: int) -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for _, line in zip(range(n), fh, strict=False)]


@pytest.mark.slow  # a whole training run
def test_the_readme_notebook_example_runs_as_written(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("**In a notebook**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    spark.createDataFrame([(line,) for line in sample_lines(500)], "body string").createOrReplaceTempView("docs")
    scope: dict[str, Any] = {"spark": spark}  # a notebook's session
    try:
        exec(compile(example, "README.md", "exec"), scope)  # noqa: S102 - the documented example, as written
    finally:
        spark.catalog.dropTempView("docs")
    result = scope["result"]
    assert isinstance(result, embedpipe.TrainResult)
    root = str(tmp_path / "runs" / "notebook")
    assert result.output_path == root
    assert dict(result.tables) == {t: f"{root}/{t}" for t in ("tokens", "vocab", "corpus", "vectors", "evaluation")}
    assert all(tables.exists(spark, path) for path in result.tables.values())
    vec = result.vectors["sgns"]
    assert isinstance(vec, Vectors) and vec.dim == 50 and len(vec) > 300
    assert set(result.vectors) == {"sgns"} and set(result.evaluation) == {"sgns"}
    assert result.config.sgns.epochs == 2 and result.config.input.format == "dataframe"
    assert result.config.input.column == "body"
    ws = result.evaluation["sgns"]["wordsim353"]
    assert -1 <= ws["spearman"] <= 1 and ws["coverage"] > 0
    # The vectors handed back are the table's current ones.
    assert vec.run_id == Vectors.from_table(result.tables["vectors"], model="sgns").run_id
    with pytest.raises(TypeError):
        result.evaluation["sgns"]["x"] = {}  # type: ignore[index]
    with pytest.raises(AttributeError):
        result.run_id = "other"  # type: ignore[misc]


def test_a_token_array_column_is_taken_as_it_is(spark: Any, tmp_path: Path):
    rows = [
        (["The", "Cat", "sat,", "on", "the", "mat"],),
        (["the", "cat", "new york", "", None],),
        (None,),
        ([],),
        (["Cat", "the", "mat"],),
    ]
    df = spark.createDataFrame(rows, "words array<string>")
    result = embedpipe.train(
        spark, df, column="words", output={"path": str(tmp_path / "out")}, vocab={"min_count": 1},
        stages=["ingest", "vocab"],
    )  # fmt: skip
    # Brute force: no lower-casing, no punctuation rules; a token with a space is its words.
    expected = Counter(w for (ws,) in rows if ws for t in ws if t for w in t.split())
    vocab = {r["word"]: r["count"] for r in tables.read(spark, result.output_path, "vocab").collect()}
    assert vocab == dict(expected)
    assert result.vectors == {} and result.evaluation == {}
    assert set(result.tables) == {"tokens", "vocab"}


def test_a_text_column_is_cleaned_like_a_file(spark: Any, tmp_path: Path):
    lines = ["Don't panic, it's 1984!", "The Cat sat on the mat.", ""]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = {"vocab.min_count": 1, "stages": ["ingest", "vocab"]}
    from_df = embedpipe.train(spark, spark.createDataFrame([(x,) for x in lines], "text string"),
                              {**settings, "output.path": str(tmp_path / "df")})  # fmt: skip
    from_file = embedpipe.train(spark, str(corpus), {**settings, "output.path": str(tmp_path / "file")})

    def counts(root: str) -> dict[str, int]:
        return {r["word"]: r["count"] for r in tables.read(spark, root, "vocab").collect()}

    assert counts(from_df.output_path) == counts(from_file.output_path)
    assert counts(from_df.output_path)["don't"] == 1 and counts(from_df.output_path)["the"] == 2
    # A path's stages are skipped when up to date; a DataFrame is ingested again.
    again = embedpipe.train(spark, str(corpus), {**settings, "output.path": str(tmp_path / "file")})
    assert all(s["skipped"] for s in again.summary["stages"])
    df_again = embedpipe.train(spark, spark.createDataFrame([(x,) for x in lines], "text string"),
                               {**settings, "output.path": str(tmp_path / "df"), "stages": ["ingest"]})  # fmt: skip
    assert not df_again.summary["stages"][0]["skipped"]


def test_a_dict_and_keywords_give_the_same_config_as_a_file(spark: Any, tmp_path: Path):
    conf = tmp_path / "conf.yaml"
    conf.write_text("output: {path: out}\nsgns: {epochs: 3, dim: 20}\nvocab: {min_count: 2}\n", encoding="utf-8")
    df = spark.createDataFrame([("a b",)], "text string")
    out = str(tmp_path / "out")
    configs = [
        embedpipe.train(spark, df, str(conf), stages=[]).config,
        embedpipe.train(spark, df, {"output.path": out, "sgns.epochs": 3, "sgns.dim": 20, "vocab.min_count": 2},
                        stages=[]).config,
        embedpipe.train(spark, df, {"output": {"path": out}, "sgns": {"epochs": 3}}, sgns={"dim": 20},
                        vocab={"min_count": 2}, stages=[]).config,
    ]  # fmt: skip
    plain = [{k: v for k, v in c.to_dict().items() if k != "base_dir"} for c in configs]
    assert plain[0] == plain[1] == plain[2]
    assert configs[0].output.path == out and configs[0].sgns.dim == 20 and configs[0].input.format == "dataframe"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"sgns": {"dimm": 3}}, r"unknown config key sgns.dimm; valid keys in section 'sgns' are \[.*'dim'"),
        ({"config": {"sgns.negative": 0}}, r"sgns.negative must be in 1..100, got 0"),
        ({"epochs": 3}, r"unknown config section 'epochs' .* pass section=\{key: value\} or 'section.key'"),
        ({"sgns": 3}, r"section 'sgns' must be a mapping of keys, got 3"),
        ({"config": {"sgns.x.y": 1}}, r"config key 'sgns.x.y' must be section.key"),
        ({"stages": ["ingest", "trian"]}, r"unknown stage 'trian'"),
        ({"vocab": {"min_count": "five"}}, r"vocab.min_count must be an integer, got 'five'"),
    ],
)
def test_bad_settings_fail_before_any_spark_job(spark: Any, kwargs: dict[str, Any], message: str, monkeypatch):
    monkeypatch.setattr("embedpipe.api.run_pipeline", lambda *a, **k: pytest.fail("a stage ran"))
    df = spark.createDataFrame([("a b",)], "text string")
    with pytest.raises(ConfigError, match=message):
        embedpipe.train(spark, df, **kwargs)


def test_a_column_that_is_not_text_is_named(spark: Any, monkeypatch):
    monkeypatch.setattr("embedpipe.api.run_pipeline", lambda *a, **k: pytest.fail("a stage ran"))
    df = spark.createDataFrame([(1, "a b")], "n int, body string")
    with pytest.raises(InputError, match=r"column 'text' is not in the DataFrame, whose columns are \['n', 'body'\]"):
        embedpipe.train(spark, df)
    with pytest.raises(InputError, match=r"column 'n' is int; embedpipe reads text \(string\) or tokens"):
        embedpipe.train(spark, df, column="n")
    with pytest.raises(TypeError, match="data must be a DataFrame or the path of a corpus, got list"):
        embedpipe.train(spark, ["a b"])  # type: ignore[arg-type]


def test_the_dataframe_format_needs_a_dataframe(spark: Any, tmp_path: Path):
    from embedpipe.config import load_config
    from embedpipe.pipeline import run_pipeline

    cfg = load_config(None, ["input.format=dataframe", f"output.path={tmp_path}", "stages=[ingest]"])
    with pytest.raises(InputError, match=r"input.format 'dataframe' reads the DataFrame given to embedpipe.train"):
        run_pipeline(spark, cfg)
