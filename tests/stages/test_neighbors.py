"""The neighbors stage: every word's nearest words, blockwise on the executors, against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from embedpipe import tables
from embedpipe.cli import main
from embedpipe.config import build_config
from embedpipe.distributed import session_conf
from embedpipe.errors import ConfigError
from embedpipe.pipeline import run_stage
from embedpipe.vectors import write_vectors
from embedpipe.vectors.neighbors import _plan, run

N, DIM, K = 53, 8, 4  # 53 words in blocks of 7: 8 blocks, the last one of 4 rows


def _matrix(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(N, DIM)).astype(np.float32)
    m[10] = 2.5 * m[40] + 0.01 * rng.normal(size=DIM)  # planted: 10 and 40 are each other's nearest, across blocks
    m[20] = 0.0  # a zero vector: cosine 0 with every word
    m[30] = m[31]  # two identical words: ties go to the lower id
    return m


def _brute_force(m: np.ndarray, k: int) -> list[tuple[int, int, int, float]]:
    """(id, rank, neighbor_id, similarity) by an independent dense search in float64."""
    norms = np.linalg.norm(m.astype(np.float64), axis=1, keepdims=True)
    unit = np.divide(m, norms, out=np.zeros_like(m, dtype=np.float64), where=norms > 0)
    sims = unit @ unit.T
    out = []
    for i in range(len(m)):
        others = [j for j in range(len(m)) if j != i]
        order = sorted(others, key=lambda j: (-sims[i, j], j))[:k]
        out += [(i, r + 1, j, float(sims[i, j])) for r, j in enumerate(order)]
    return out


@pytest.fixture(scope="module")
def root(spark, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("neighbors"))
    words = [f"w{i}" for i in range(N)]
    for model, seed in (("sgns", 3), ("glove", 4)):
        write_vectors(
            spark, out, model=model, run_id=f"run-{model}", words=words, counts=list(range(N, 0, -1)),
            matrix=_matrix(seed), metadata={"config": {}},
        )  # fmt: skip
    return out


def _cfg(root: str, **neighbors) -> object:
    return build_config({"output": {"path": root}, "neighbors": neighbors, "stages": ["neighbors"]})


@pytest.fixture(scope="module")
def sgns_run(spark, root):
    """The stage run once on sgns, in blocks of 7 rows: 8 blocks, 36 pairs of them."""
    return run_stage(spark, _cfg(root, k=K, block_rows=7), "neighbors")


def test_the_table_is_brute_force_and_up_to_date_runs_are_skipped(spark, root, sgns_run):
    result = sgns_run
    got = tables.read(spark, root, "neighbors").filter(F.col("model") == "sgns").collect()
    assert not result.skipped and result.rows == len(got) == N * K
    want = _brute_force(_matrix(3), K)
    rows = sorted((r["id"], r["rank"], r["neighbor_id"], r["similarity"]) for r in got)
    assert [r[:3] for r in rows] == [w[:3] for w in want]
    assert np.allclose([r[3] for r in rows], [w[3] for w in want], atol=1e-5)
    first = {r["id"]: r for r in got if r["rank"] == 1}
    assert first[10]["neighbor_id"] == 40 and first[40]["neighbor_id"] == 10  # planted, blocks 1 and 5
    assert first[30]["neighbor_id"] == 31 and first[31]["neighbor_id"] == 30
    assert all(r["word"] == f"w{r['id']}" and r["neighbor"] == f"w{r['neighbor_id']}" for r in got)
    assert {(r["model"], r["run_id"]) for r in got} == {("sgns", "run-sgns")}
    assert run_stage(spark, _cfg(root, k=K, block_rows=7), "neighbors").skipped


def test_the_drivers_frame_is_the_stages_table(spark, root, sgns_run):
    """`Vectors.neighbors_frame(exact=True)` on the driver answers what the stage writes on the executors."""
    from embedpipe import Vectors

    table = tables.read(spark, root, "neighbors").filter(F.col("model") == "sgns").drop("model", "run_id")
    got = table.toPandas().sort_values(["id", "rank"], ignore_index=True)
    frame = Vectors.from_table(root, model="sgns").neighbors_frame(topn=K, exact=True)
    assert list(frame.columns) == list(got.columns)
    for column in ("word", "id", "rank", "neighbor", "neighbor_id"):  # ties and the zero vector included
        assert frame[column].tolist() == got[column].tolist(), column
    assert np.allclose(frame["similarity"], got["similarity"], atol=1e-5)


def test_another_model_in_one_block_adds_its_rows_beside_the_first(spark, root, sgns_run):
    result = run_stage(spark, _cfg(root, model="glove", k=2, block_rows=N), "neighbors")
    assert not result.skipped  # a key the stage reads changed
    df = tables.read(spark, root, "neighbors")
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("model", "string"), ("run_id", "string"), ("word", "string"), ("id", "int"), ("rank", "int"),
        ("neighbor", "string"), ("neighbor_id", "int"), ("similarity", "float"),
    ]  # fmt: skip
    counts = {r["model"]: r["count"] for r in df.groupBy("model").count().collect()}
    assert counts == {"glove": N * 2, "sgns": N * K}
    glove = {(r["id"], r["rank"]): r["neighbor_id"] for r in df.filter(F.col("model") == "glove").collect()}
    assert glove == {(i, r): j for i, r, j, _ in _brute_force(_matrix(4), 2)}


def test_k_beyond_the_vocabulary_keeps_every_other_word(spark, tmp_path):
    out = str(tmp_path / "small")
    m = np.eye(3, 4, dtype=np.float32) + 0.1
    write_vectors(spark, out, model="sgns", run_id="r", words=["a", "b", "c"], counts=[3, 2, 1], matrix=m,
                  metadata={"config": {}})  # fmt: skip
    run(spark, _cfg(out, k=5))
    rows = tables.read(spark, out, "neighbors").collect()
    assert sorted((r["word"], r["rank"]) for r in rows) == [(w, r) for w in "abc" for r in (1, 2)]


def test_config_is_checked_before_spark_starts(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"neighbors.k must be in 1..1000, got 0"):
        build_config({"neighbors": {"k": 0}})
    with pytest.raises(ConfigError, match=r"unknown config key neighbors.topn; valid keys .* \['model', 'k', 'block_r"):
        build_config({"neighbors": {"topn": 5}})
    with pytest.raises(ConfigError, match=r"neighbors.model: model name 'a b'"):
        build_config({"neighbors": {"model": "a b"}})
    conf = tmp_path / "c.yaml"
    conf.write_text(f"output: {{path: {tmp_path}}}\n", encoding="utf-8")
    assert main(["neighbors-table", str(conf), "--set", "neighbors.block_rows=-1"]) == 2
    assert "neighbors.block_rows must be >= 0, got -1" in capsys.readouterr().err


def test_without_vectors_the_error_names_the_stage_to_run(spark, tmp_path):
    with pytest.raises(tables.TableError, match=r"table 'vectors' not found .* run the glove or sgns stage first"):
        run(spark, _cfg(str(tmp_path / "empty")))


def test_the_readme_example_runs_as_written(spark, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Nearest neighbours at scale", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    words = ["the", "france", "paris", "king", *[f"w{i}" for i in range(30)]]
    matrix = np.random.default_rng(2).normal(size=(len(words), 8)).astype(np.float32)
    write_vectors(spark, str(tmp_path / "runs" / "demo"), model="sgns", run_id="r", words=words,
                  counts=list(range(len(words), 0, -1)), matrix=matrix, metadata={"config": {}})  # fmt: skip
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)  # noqa: S102 - the documented example, as written
    assert scope["v"].index is not None
    assert [w for w, _ in scope["v"].neighbors(["france"], topn=5)[0]] == [
        w for w, _ in scope["v"].most_similar("france", topn=5, exact=True)
    ]


def test_block_pairs_meet_in_a_nested_loop_never_a_broadcast(spark, root, capsys):
    # A broadcast goes through the driver; even when Spark would broadcast the blocks, they are not.
    vectors = tables.read(spark, root, "vectors").filter(F.col("model") == "sgns").select("id", "vector")
    with session_conf(spark, "spark.sql.autoBroadcastJoinThreshold", str(1 << 30)):
        blocks, lists = _plan(spark, vectors, vocab=N, dim=DIM, k=K, block_rows=7)
        try:
            lists.explain()
        finally:
            blocks.unpersist()
    plan = capsys.readouterr().out
    assert "CartesianProduct" in plan and "Broadcast" not in plan
