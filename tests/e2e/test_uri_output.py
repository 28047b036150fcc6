"""An output.path that only Hadoop can reach: tables, checkpoints and resume
work through Spark, and nothing lands on the driver's local disk."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe import cooccur, encode, ingest, tables, vocab
from embedpipe.config import build_config
from embedpipe.pipeline import write_summary
from embedpipe.training import glove, sgns
from embedpipe.vectors import export, read_vectors
from tests.conftest import VIEWFS_MOUNT

WORDS = "cat dog horse cow sheep goat pig duck red blue green yellow purple orange black white".split()


@pytest.mark.slow
def test_a_run_on_viewfs_resumes_and_writes_nothing_on_the_driver(spark, tmp_path, viewfs_root, monkeypatch):
    rng = np.random.default_rng(5)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(WORDS, 10)) for _ in range(300)) + "\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = f"viewfs://{VIEWFS_MOUNT}/run"

    def cfg(epochs: int, distribution: str = "rotation"):
        return build_config(
            {
                "input": {"path": str(corpus)}, "output": {"path": out}, "clean": {"preset": "text8"},
                "vocab": {"min_count": 1}, "spark": {"partitions": 2}, "cooccur": {"window": 3},
                "glove": {"dim": 8, "x_max": 10, "epochs": epochs, "seed": 2, "distribution": distribution},
                "sgns": {"dim": 8, "window": 2, "negative": 2, "sample": 0, "epochs": epochs, "sync_rounds": 2},
            }
        )  # fmt: skip

    for stage in (ingest, vocab, encode, cooccur):
        stage.run(spark, cfg(3))
    glove.run(spark, cfg(3))
    uninterrupted = read_vectors(spark, out, "glove").matrix
    # Killed after epoch 2: the checkpoint is a table under the URI, and --resume finds it.
    glove.run(spark, cfg(2))
    resumed = glove.run(spark, cfg(3), resume=True)
    assert len(resumed.stats["costs"]) == 3
    np.testing.assert_array_equal(read_vectors(spark, out, "glove").matrix, uninterrupted)
    # Averaging's checkpoints are the same kind of table: a run resumed after its
    # last epoch finds every epoch done and writes the same vectors.
    sgns.run(spark, cfg(2))
    trained = read_vectors(spark, out, "sgns").matrix
    result = sgns.run(spark, cfg(2), resume=True)
    assert len(result.stats["losses"]) == 2 and result.work == 0
    np.testing.assert_array_equal(read_vectors(spark, out, "sgns").matrix, trained)
    assert write_summary(out, "run-1", {"stages": []}) is None  # logged, not written with open()
    # The export streams the table into a file that Hadoop publishes under the URI.
    exported = export.run(spark, cfg(2), model="sgns", fmt="word2vec")
    assert exported.stats["path"] == f"{out}/export/sgns.txt"
    lines = (viewfs_root / "run" / "export" / "sgns.txt").read_text().splitlines()
    assert lines[0] == f"{len(trained)} 8" and len(lines) == len(trained) + 1

    assert list(cwd.iterdir()) == [], "nothing may land in the driver's working directory"
    run_dir = viewfs_root / "run"
    for name in ("tokens", "vocab", "corpus", "cooccurrence", "vectors", *tables.CHECKPOINTS.values()):
        assert (run_dir / name / "_delta_log").is_dir(), f"{name} was not written through the viewfs mount"
    # Each checkpoint keeps only its newest epoch's files, deleted through the URI too.
    for name in tables.CHECKPOINTS.values():
        newest = {f.rsplit("/", 1)[-1] for f in spark.read.format("delta").load(f"{out}/{name}").inputFiles()}
        assert {f.name for f in (run_dir / name).glob("*.parquet")} == newest, name
