"""``embedpipe align`` end to end on small vectors tables (real Spark and Delta), and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedpipe import Vectors
from embedpipe.align import align_vectors, read_dictionary
from embedpipe.cli import main
from embedpipe.config import AlignConfig
from embedpipe.errors import InputError

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
VIEWFS_MOUNT = "/embedpipe-test"  # tests/conftest.py mounts it on a local folder for Spark only
N, DIM = 300, 12
MOVED = ["w40", "w41", "w42"]  # frequent words whose target vectors are replaced: they "moved"


def _rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def _pair() -> tuple[Vectors, Vectors, np.ndarray]:
    """A source model and a target that is its rotated copy (plus a few words of its own, and a few that moved)."""
    rng = np.random.default_rng(21)
    words = [f"w{i}" for i in range(N)]
    src = rng.normal(size=(N, DIM)).astype(np.float32)
    rot = _rotation(DIM, 22)
    tgt = (src.astype(np.float64) @ rot).astype(np.float32)
    for w in MOVED:
        tgt[words.index(w)] = rng.normal(size=DIM)
    # the target lacks w5 and has words of its own; its order differs a little
    t_words = [w for w in words if w != "w5"] + ["only_in_target"]
    t_matrix = np.vstack([np.delete(tgt, 5, axis=0), rng.normal(size=(1, DIM))]).astype(np.float32)
    source = Vectors.from_arrays(words, src, counts=np.arange(N, 0, -1), model="sgns")
    target = Vectors.from_arrays(t_words, t_matrix, counts=np.arange(N, 0, -1), model="glove")
    return source, target, rot


def _write(spark, root: str, v: Vectors, model: str, run_id: str) -> None:
    from embedpipe.vectors import write_vectors

    write_vectors(
        spark, root, model=model, run_id=run_id, words=v.words, counts=v.counts, matrix=v.matrix,
        metadata={"config": {}},
    )  # fmt: skip


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


SMALL = ["--set", "align.anchors=200", "--set", "align.held_out=50", "--set", "align.moved=3",
         "--set", "align.moved_among=100"]  # fmt: skip


def test_align_cli_writes_the_rotated_model_and_finds_what_moved(spark, tmp_path, capsys):
    source, target, rot = _pair()
    root = str(tmp_path / "out")
    _write(spark, root, source, "sgns", "run-s")
    _write(spark, root, target, "glove", "run-g")
    over = ["--set", f"output.path={root}", "-q", *SMALL]
    code, out, err = run_cli(capsys, "align", DEMO, "--source", "sgns", "--target", "glove", *over, "--json")
    assert code == 0, err
    res = json.loads(out)
    st = res["stats"]
    assert st["model"] == "sgns-aligned" and st["held_out"] == 50 and st["fit"] == 150
    assert st["source_run_id"] == "run-s" and st["target_run_id"] == "run-g"
    for method in ("cosine", "csls"):
        # noise-free anchors (the 3 moved words may be held out, and then miss)
        assert st["precision"][method]["p@1"] >= 47 / 50 and st["precision"][method]["p@5"] >= 47 / 50
    assert sorted(m["word"] for m in st["moved"]) == MOVED
    assert all(m["cosine"] < 0.9 for m in st["moved"])

    got = Vectors.from_table(root, model="sgns-aligned")
    assert got.words == source.words and np.array_equal(got.counts, source.counts)
    assert got.metadata["stage"] == "align" and got.metadata["source"] == "sgns" and got.metadata["target"] == "glove"
    # an orthogonal map keeps every norm; it is near the rotation, though 3 fitted anchors disagree with it
    assert np.allclose(np.linalg.norm(got.matrix, axis=1), np.linalg.norm(source.matrix, axis=1), rtol=1e-5)
    want = source.matrix.astype(np.float64) @ rot
    cos = np.einsum("ij,ij->i", got.matrix, want) / np.linalg.norm(want, axis=1) ** 2
    assert cos.min() > 0.97
    # the other models are untouched
    assert np.array_equal(Vectors.from_table(root, model="sgns").matrix, source.matrix)

    # the readable report
    code, out, err = run_cli(capsys, "align", DEMO, "--source", "sgns", "--target", "glove", "--name", "s2g", *over)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("aligned sgns onto glove (dim 12 -> 12): 150 anchor pairs from shared words")
    assert lines[2].split() == ["retrieval", "p@1", "p@5"]
    assert lines[3].split()[0] == "cosine" and lines[4].split()[0] == "csls"
    assert f"wrote model s2g to {root}/vectors" in out
    assert {line.split()[0] for line in lines[-3:]} == set(MOVED)


def test_align_an_earlier_run_with_a_dictionary_through_spark(spark, tmp_path, capsys, write_text):
    """MODEL@RUN reads the run from the table's history; on viewfs:// only Spark reads the table."""
    source, target, rot = _pair()
    root = f"viewfs://{VIEWFS_MOUNT}/align-{tmp_path.name}"
    _write(spark, root, source, "sgns", "run-1")
    scrambled = Vectors.from_arrays(source.words, np.random.default_rng(5).normal(size=(N, DIM)), model="sgns")
    _write(spark, root, scrambled, "sgns", "run-2")  # the current sgns: unrelated to the target
    _write(spark, root, target, "glove", "run-g")
    # a dictionary: mostly identical words, one word with two partners, pairs of missing words
    lines = [f"w{i} w{i}" for i in range(60, 160)] + ["w60 w61", "nothere w1", "w2 nothere", "# a comment"]
    dictionary = write_text("dict.txt", "\n".join(lines) + "\n")
    over = ["--set", f"output.path={root}", "-q", "--set", "align.held_out=20", "--set", "align.moved=0"]
    args = ["align", DEMO, "--target", "glove", "--dictionary", dictionary, "--json", *over]
    code, out, err = run_cli(capsys, *args, "--source", "sgns@run-1", "--name", "old")
    assert code == 0, err
    st = json.loads(out)["stats"]
    assert st["source"] == "sgns@run-1" and st["source_run_id"] == "run-1"
    assert st["anchors"] == dictionary and st["dropped_pairs"] == 2 and st["held_out"] == 20
    assert st["precision"]["csls"]["p@5"] == 1.0 and st["precision"]["cosine"]["p@5"] == 1.0
    code, out, err = run_cli(capsys, *args, "--source", "sgns", "--name", "new")
    assert code == 0, err
    assert json.loads(out)["stats"]["precision"]["csls"]["p@5"] < 0.5  # the current run is unrelated
    from embedpipe.vectors import read_vectors

    old = read_vectors(spark, root, "old")
    want = source.matrix.astype(np.float64) @ rot  # near it: the pair "w60 w61" is wrong
    assert (np.einsum("ij,ij->i", old.matrix, want) / np.linalg.norm(want, axis=1) ** 2).min() > 0.97

    code, out, err = run_cli(capsys, "align", DEMO, "--source", "sgns@run-9", "--target", "glove", *over)
    assert code == 2 and "no run 'run-9' of model 'sgns'" in err and "runs present: ['run-2', 'run-1']" in err


def test_align_refuses_bad_input_before_spark(tmp_path):
    root = str(tmp_path / "out")
    cases = [
        (["--source", "mine", "--target", "glove", "--name", "mine"], "would replace the model"),
        (["--source", "sgns", "--target", "glove", "--name", "glove"], "reserved for the trained models"),
        (["--source", "sg ns", "--target", "glove"], "must be 1 to 64 letters"),
        (["--source", "sgns@", "--target", "glove"], "put a run id after '@'"),
        (["--source", "sgns", "--target", "glove", "--set", "align.held_out=6000"], "align.held_out (6000) must be"),
        (["--source", "sgns", "--target", "glove", "--dictionary", str(tmp_path / "none.txt")], "no dictionary file"),
        (["--source", "sgns", "--target", "glove"], f"no Delta table at {root}"),
    ]
    code = (
        "import sys; from embedpipe.cli import main; rc = main(sys.argv[1:]); "
        "print('PYSPARK', 'pyspark' in sys.modules, file=sys.stderr); sys.exit(rc)"
    )
    for args, message in cases:
        done = subprocess.run(
            [sys.executable, "-c", code, "align", DEMO, "--set", f"output.path={root}", *args],
            cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert "PYSPARK False" in done.stderr, args


def test_too_few_anchors_and_bad_dictionary_lines(write_text):
    source, target, _ = _pair()
    with pytest.raises(InputError, match=r"299 shared words cannot hold out align.held_out=299"):
        align_vectors(source, target, AlignConfig(anchors=1000, held_out=299))
    bad = write_text("bad.txt", "a b\nc d e\n")
    with pytest.raises(InputError, match=r"bad.txt, line 2: expected two words"):
        read_dictionary(bad)
