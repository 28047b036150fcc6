"""``embedpipe export --normalize``: unit-length vectors, same words and directions (real Spark and Delta)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedpipe import Vectors
from embedpipe.cli import main

DEMO = str(Path(__file__).resolve().parents[2] / "conf" / "demo.yaml")


def test_export_normalize_writes_unit_vectors(spark, tmp_path, capsys):
    from embedpipe.vectors import write_vectors

    rng = np.random.default_rng(41)
    words = [f"w{i}" for i in range(50)]
    matrix = rng.normal(size=(50, 8)).astype(np.float32) * rng.uniform(0.1, 5, size=(50, 1)).astype(np.float32)
    matrix[3] = 0  # a zero vector stays zero
    root = str(tmp_path / "out")
    write_vectors(spark, root, model="sgns", run_id="r", words=words, counts=np.arange(50, 0, -1), matrix=matrix,
                  metadata={"config": {}})  # fmt: skip
    for normalize, name in ((True, "unit.txt"), (False, "raw.txt")):
        out = tmp_path / name
        args = ["export", DEMO, "--set", f"output.path={root}", "-q", "--model", "sgns", "--out", str(out)]
        assert main([*args, "--normalize"] if normalize else args) == 0, capsys.readouterr().err
    unit, raw = Vectors.load(tmp_path / "unit.txt"), Vectors.load(tmp_path / "raw.txt")
    assert unit.words == raw.words == words
    assert np.array_equal(raw.matrix, matrix)
    norms = np.linalg.norm(unit.matrix, axis=1)
    assert np.allclose(np.delete(norms, 3), 1, atol=1e-6) and norms[3] == 0
    keep = np.arange(50) != 3
    assert np.allclose(unit.matrix[keep] * np.linalg.norm(matrix[keep], axis=1, keepdims=True), matrix[keep], atol=1e-5)
