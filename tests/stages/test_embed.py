"""The embed stage on real Spark and Delta: text vectors equal a brute-force numpy computation.

A tiny model (24 words, dim 8) and a vocab table whose counts differ from the
vectors' own, so SIF must take p(w) from the vocab table. Each method runs
through both ways the vectors reach the executors (a broadcast, and a join
with ``embed.broadcast_mb=0``) and must give the brute-force vectors.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from embedpipe.cli import main
from embedpipe.config import build_config
from embedpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray").split()  # fmt: skip
DIM = 8
VECTOR_COUNTS = np.arange(len(WORDS), 0, -1) * 10
VOCAB_COUNTS = np.array([1000, 500, 300, 200, 150, 100, 80, 60, 50, 40, 30, 25, 20, 15, 12, 10, 9, 8, 7, 6, 5, 4, 3, 2])
# (id, lang, text): capitals and punctuation go through the run's cleaning; "zulu", "yankee" are unknown.
TEXTS = [
    ("a", "en", "Alpha bravo, charlie!"),
    ("b", "en", "alpha alpha alpha delta echo zulu"),
    ("c", "fr", "Zulu yankee."),  # no known word: a null vector, counted
    ("d", "en", "golf hotel india juliett kilo lima mike"),
    ("e", "de", ""),  # no token at all
    ("f", "en", "november oscar papa quebec alpha"),
    ("g", "fr", "romeo sierra tango uniform victor whiskey xray bravo bravo"),
    ("h", "en", "charlie delta echo foxtrot golf zulu zulu"),
]


def _matrix() -> np.ndarray:
    rng = np.random.default_rng(28)
    # a shared direction, as real word vectors have, so SIF's first component is well defined
    return (rng.normal(size=(len(WORDS), DIM)) + 2.0 * rng.normal(size=DIM)).astype(np.float32)


def known_tokens(text: str) -> list[int]:
    """The rows of a text's known words: the default cleaning of these texts is lower-case words."""
    index = {w: i for i, w in enumerate(WORDS)}
    return [index[t] for t in re.findall(r"[a-z]+", text.lower()) if t in index]


def brute_force(method: str, a: float = 1e-3) -> list[np.ndarray | None]:
    """Each text's vector, word by word in float64 (None: no known word)."""
    m = _matrix().astype(np.float64)
    rows = [known_tokens(t) for _, _, t in TEXTS]
    out: list[np.ndarray | None] = []
    for r in rows:
        if not r:
            out.append(None)
        elif method == "mean":
            out.append(sum(m[i] for i in r) / len(r))
        elif method == "tfidf":
            n = len(TEXTS)
            idf = {i: math.log((1 + n) / (1 + sum(i in set(q) for q in rows))) + 1 for i in r}
            out.append(sum(idf[i] * m[i] for i in r) / sum(idf[i] for i in r))
        else:
            total = VOCAB_COUNTS.sum()
            out.append(sum(a / (a + VOCAB_COUNTS[i] / total) * m[i] for i in r) / len(r))
    if method == "sif":  # Arora et al.: remove the first singular vector of the stacked text vectors
        x = np.array([v for v in out if v is not None])
        u = np.linalg.svd(x, full_matrices=False)[2][0]
        out = [None if v is None else v - (v @ u) * u for v in out]
    return out


@pytest.fixture(scope="module")
def run_root(spark, tmp_path_factory) -> str:
    """A run folder with model sgns in vectors and a vocab table."""
    from embedpipe import tables
    from embedpipe.vectors import write_vectors

    root = str(tmp_path_factory.mktemp("embed") / "run")
    write_vectors(spark, root, model="sgns", run_id="run-sgns", words=list(WORDS), counts=VECTOR_COUNTS,
                  matrix=_matrix(), metadata={"config": {}})  # fmt: skip
    rows = [(w, i, int(c), 1.0 / len(WORDS)) for i, (w, c) in enumerate(zip(WORDS, VOCAB_COUNTS, strict=True))]
    tables.write(spark.createDataFrame(rows, tables.VOCAB), root, "vocab", metadata={"stage": "vocab"})
    return root


@pytest.fixture(scope="module")
def texts_table(spark, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("texts") / "texts.parquet")
    spark.createDataFrame(TEXTS, "id string, lang string, text string").coalesce(1).write.parquet(path)
    return path


def _config(run_root: str, out: str, **embed) -> object:
    return build_config(
        {"output": {"path": out}, "embed": {"vectors": run_root, "model": "sgns", **embed}, "stages": ["evaluate"]}
    )


def _read(spark, out: str) -> list[dict]:
    df = spark.read.format("delta").load(f"{out}/doc_vectors")
    return [r.asDict() for r in df.orderBy("doc_id").collect()], df.columns


@pytest.mark.parametrize("path", ["broadcast", "join"])
@pytest.mark.parametrize("method", ["mean", "tfidf", "sif"])
def test_vectors_equal_brute_force_one_row_per_text_keys_carried(spark, run_root, texts_table, tmp_path, method, path):
    from embedpipe import embed

    out = str(tmp_path / "out")
    cfg = _config(run_root, out, input=texts_table, format="parquet", key_columns=["id", "lang"], method=method,
                  broadcast_mb=512 if path == "broadcast" else 0)  # fmt: skip
    result = embed.run(spark, cfg)
    rows, columns = _read(spark, out)

    assert columns == ["doc_id", "id", "lang", "vector", "tokens_used"]
    assert len(rows) == len(TEXTS) and [r["doc_id"] for r in rows] == list(range(len(TEXTS)))
    assert [(r["id"], r["lang"]) for r in rows] == [(i, lang) for i, lang, _ in TEXTS]
    assert result.stats["broadcast"] is (path == "broadcast")
    assert result.stats["texts"] == len(TEXTS) and result.stats["texts_without_known_words"] == 2
    assert result.stats["tokens_used"] == sum(len(known_tokens(t)) for _, _, t in TEXTS)
    for row, (_, _, text), want in zip(rows, TEXTS, brute_force(method), strict=True):
        assert row["tokens_used"] == len(known_tokens(text))
        if want is None:
            assert row["vector"] is None, f"{text!r} has no known word: its vector must be null"
        else:
            np.testing.assert_allclose(row["vector"], want, rtol=1e-5, atol=1e-5, err_msg=f"{method} {path}: {text!r}")


def test_sif_removes_the_common_component(spark, run_root, texts_table, tmp_path):
    # After the removal no text vector keeps any of the texts' first principal component.
    from embedpipe import embed

    out = str(tmp_path / "out")
    embed.run(spark, _config(run_root, out, input=texts_table, format="parquet", method="sif"))
    rows, _ = _read(spark, out)
    x = np.array([r["vector"] for r in rows if r["vector"] is not None], dtype=np.float64)
    plain = np.array([v for v in brute_force("sif") if v is not None])
    u = np.linalg.svd(np.array([v for v in _sif_before_removal() if v is not None]), full_matrices=False)[2][0]
    assert np.abs(x @ u).max() < 1e-5
    np.testing.assert_allclose(x, plain, atol=1e-5)


def _sif_before_removal() -> list[np.ndarray | None]:
    m, total = _matrix().astype(np.float64), VOCAB_COUNTS.sum()
    out = []
    for _, _, t in TEXTS:
        r = known_tokens(t)
        out.append(sum(1e-3 / (1e-3 + VOCAB_COUNTS[i] / total) * m[i] for i in r) / len(r) if r else None)
    return out


def test_a_text_file_gives_one_row_per_line_with_its_line_number(spark, run_root, tmp_path):
    from embedpipe import embed

    path = tmp_path / "texts.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(t for _, _, t in TEXTS) + "\n")
    out = str(tmp_path / "out")
    result = embed.run(spark, _config(run_root, out, input=str(path), format="text"))
    rows, columns = _read(spark, out)
    assert columns == ["doc_id", "vector", "tokens_used"]
    assert [r["doc_id"] for r in rows] == list(range(len(TEXTS)))
    for row, want in zip(rows, brute_force("mean"), strict=True):
        assert (row["vector"] is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(row["vector"], want, rtol=1e-5, atol=1e-6)
    assert result.stats["texts_without_known_words"] == 2


def test_jsonl_and_a_dataframe_are_read_like_the_ingest_formats(spark, run_root, tmp_path):
    from embedpipe import embed

    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, _, t in TEXTS), encoding="utf-8")
    out = str(tmp_path / "json")
    embed.run(spark, _config(run_root, out, input=str(path), format="jsonl", key_columns=["id"]))
    rows, _ = _read(spark, out)
    assert {r["id"]: r["tokens_used"] for r in rows} == {i: len(known_tokens(t)) for i, _, t in TEXTS}

    df = spark.createDataFrame([(i, t) for i, _, t in TEXTS], "id string, body string")
    out = str(tmp_path / "df")
    embed.run(spark, _config(run_root, out, format="dataframe", text_column="body", key_columns=["id"]), source=df)
    rows, _ = _read(spark, out)
    assert len(rows) == len(TEXTS)
    np.testing.assert_allclose(rows[0]["vector"], brute_force("mean")[0], rtol=1e-5, atol=1e-6)


def test_the_cli_embeds_and_reports_texts_without_known_words(spark, run_root, texts_table, tmp_path, capsys):
    out = str(tmp_path / "out")
    over = [f"output.path={out}", f"embed.vectors={run_root}", f"embed.input={texts_table}", "embed.format=parquet"]
    capsys.readouterr()
    code = main(["embed", DEMO, "--method", "tfidf", "-q", *[a for o in over for a in ("--set", o)]])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "embedded 8 texts with tfidf over sgns (dim 8" in stdout
    assert "texts without a known word (null vector): 2" in stdout


def test_bad_config_is_refused_before_spark_with_the_fix(tmp_path, run_root, capsys):
    from embedpipe import embed

    with pytest.raises(ConfigError, match=r"embed\.method must be one of \['mean', 'tfidf', 'sif'\], got 'max'"):
        build_config({"embed": {"method": "max"}})
    with pytest.raises(ConfigError, match=r"embed\.sif_a must be > 0"):
        build_config({"embed": {"sif_a": 0}})
    # no input at all: neither embed.input nor the corpus
    with pytest.raises(ConfigError, match=r"embed\.input is empty and so is input\.path: set embed\.input"):
        embed.check(_config(run_root, str(tmp_path / "out")))
    with pytest.raises(ConfigError, match=r"embed\.input '.*nothing\.txt' does not exist"):
        embed.check(_config(run_root, str(tmp_path / "out"), input=str(tmp_path / "nothing.txt")))
    texts = tmp_path / "t.txt"
    texts.write_text("alpha\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"embed\.key_columns: a text file's lines have no columns"):
        embed.check(_config(run_root, str(tmp_path / "out"), input=str(texts), key_columns=["id"]))
    with pytest.raises(ConfigError, match=r"no vectors table under .*; set embed\.vectors"):
        embed.check(_config(str(tmp_path / "empty"), str(tmp_path / "out"), input=str(texts)))
    with pytest.raises(ConfigError, match=r"embed\.format 'dataframe' embeds the DataFrame given to"):
        embed.check(_config(run_root, str(tmp_path / "out"), format="dataframe"))
    # the CLI: one line naming the problem, exit status 2
    code = main(["embed", DEMO, "--set", "embed.method=max", "-q"])
    assert code == 2 and "embed.method must be one of" in capsys.readouterr().err
    code = main(["embed", DEMO, "--set", f"output.path={tmp_path / 'none'}", "-q"])
    assert code == 2 and "no vectors table under" in capsys.readouterr().err


def test_the_join_path_sums_a_text_whose_rows_straddle_arrow_batches(spark, run_root, texts_table, tmp_path):
    # Batches of 2 rows cut most texts' (text, word) rows apart; the sums must still be whole.
    from embedpipe import embed
    from embedpipe.distributed import session_conf

    out = str(tmp_path / "out")
    with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "2"):
        embed.run(spark, _config(run_root, out, input=texts_table, format="parquet", broadcast_mb=0))
    rows, _ = _read(spark, out)
    for row, want in zip(rows, brute_force("mean"), strict=True):
        assert (row["vector"] is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(row["vector"], want, rtol=1e-5, atol=1e-6)
