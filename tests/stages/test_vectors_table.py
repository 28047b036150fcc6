"""The vectors table when glove and sgns finish at the same moment (parallel DAG branches)."""

from __future__ import annotations

import threading

import numpy as np

from embedpipe import tables
from embedpipe.vectors import read_vectors, write_vectors


def _write(spark, root: str, model: str, dim: int, errors: list[BaseException], start: threading.Barrier) -> None:
    words = [f"{model}{i}" for i in range(20)]
    matrix = np.full((20, dim), 1.0 if model == "glove" else 2.0, dtype=np.float32)
    try:
        start.wait()
        write_vectors(
            spark, root, model=model, run_id=f"run-{model}", words=words, counts=list(range(20, 0, -1)),
            matrix=matrix, metadata={"config": {}},
        )  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_two_trainers_writing_a_new_table_at_once_keep_both_models(spark, tmp_path):
    # Repeat: the two first commits race for version 0 of a table that does not exist yet.
    for attempt in range(2):
        root = str(tmp_path / f"run{attempt}")
        errors: list[BaseException] = []
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=_write, args=(spark, root, model, dim, errors, start))
            for model, dim in (("glove", 4), ("sgns", 6))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        glove, sgns = read_vectors(spark, root, "glove"), read_vectors(spark, root, "sgns")
        assert glove.words[0] == "glove0" and glove.matrix.shape == (20, 4) and (glove.matrix == 1.0).all()
        assert sgns.words[0] == "sgns0" and sgns.matrix.shape == (20, 6) and (sgns.matrix == 2.0).all()
        assert tables.read(spark, root, "vectors").count() == 40


def test_retraining_one_model_replaces_only_its_rows(spark, tmp_path):
    root = str(tmp_path / "run")
    errors: list[BaseException] = []
    for model, dim in (("glove", 4), ("sgns", 6), ("glove", 4)):
        _write(spark, root, model, dim, errors, threading.Barrier(1))
    assert errors == []
    assert tables.read(spark, root, "vectors").count() == 40
    assert read_vectors(spark, root, "sgns").matrix.shape == (20, 6)
