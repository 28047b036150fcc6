"""The CLI on the vectors table: queries answered without a JVM where delta-rs reads the
table and the same answers through Spark elsewhere (viewfs), and ``embedpipe import``
of pretrained files that evaluate, the queries and export then use like trained models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedpipe import Vectors
from embedpipe.cli import main
from embedpipe.evaluate.evalsets import builtin_sets
from embedpipe.vectors import lookup

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
VIEWFS_MOUNT = "/embedpipe-test"  # tests/conftest.py mounts it on a local folder for Spark only


def _vectors() -> Vectors:
    """Words of WordSim-353 (so that evaluate scores something) and a few planted relations;
    "Paris" is a rarer case variant of "paris", so exact matching can be told from lower-cased."""
    pairs = builtin_sets()[0][0]
    words = ["the", "king", "queen", "man", "woman", "paris", "france", "berlin", "germany"]
    for w in [*pairs.word1, *pairs.word2]:
        if w not in words:
            words.append(w)
    words.append("Paris")
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(len(words), 16)).astype(np.float32)
    matrix[2] = matrix[1] - matrix[3] + matrix[4] + 0.1 * rng.normal(size=16)
    matrix[7] = matrix[5] - matrix[6] + matrix[8] + 0.1 * rng.normal(size=16)
    return Vectors.from_arrays(words, matrix, counts=np.arange(len(words), 0, -1))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``embedpipe ARGS`` through ``main`` in this process (Spark commands use the suite's session)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def fresh_process(*args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """``embedpipe ARGS`` in a new process: (the process, whether it imported pyspark)."""
    code = (
        "import sys; from embedpipe.cli import main; rc = main(sys.argv[1:]); "
        "print('PYSPARK', 'pyspark' in sys.modules, file=sys.stderr); sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, "PYSPARK True" in done.stderr


@pytest.fixture(scope="module")
def roots(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Vectors, str, str]:
    """The same sgns vectors under a local output.path and under viewfs:// (which only Spark reads)."""
    from embedpipe.vectors import write_vectors

    v = _vectors()
    local = str(tmp_path_factory.mktemp("cli") / "out")
    viewfs = f"viewfs://{VIEWFS_MOUNT}/cli-queries"
    for root in (local, viewfs):
        write_vectors(
            spark, root, model="sgns", run_id="run-1", words=v.words, counts=v.counts, matrix=v.matrix,
            metadata={"config": {}},
        )  # fmt: skip
    return v, local, viewfs


QUERIES = [
    ("neighbors", "king", "-k", "5"),
    ("neighbors", "Paris", "-k", "3"),  # the exact word, not the more frequent "paris"
    ("neighbors", "PARIS", "-k", "3"),  # no exact match: the most frequent lower-cased one
    ("analogy", "man", "king", "woman", "-k", "3"),
    ("analogy", "France", "paris", "germany"),
]


def test_queries_answer_the_same_with_delta_rs_and_through_spark(spark, roots, capsys):
    v, local, viewfs = roots
    assert lookup.read_for_queries(local, "sgns") is not None, "a local table is read by delta-rs"
    assert lookup.read_for_queries(viewfs, "sgns") is None, "viewfs:// goes through Spark"
    for query in QUERIES:
        answers = []
        for root in (local, viewfs):
            code, out, err = run_cli(capsys, query[0], DEMO, "--set", f"output.path={root}", "-q", *query[1:])
            assert code == 0, err
            answers.append(out)
        assert answers[0] == answers[1], query
        words = [line.split("\t")[0] for line in answers[0].splitlines()]
        if query[0] == "neighbors":
            assert words == [w for w, _ in v.most_similar(query[1], topn=int(query[3]))]
        else:
            k = int(query[5]) if len(query) > 4 else 1
            assert words == [w for w, _ in v.most_similar([query[2], query[3]], [query[1]], topn=k)]
        if query[1:4] == ("man", "king", "woman"):
            assert words[0] == "queen"
    assert (
        run_cli(capsys, "neighbors", DEMO, "--set", f"output.path={local}", "-q", "Paris", "-k", "1")[1]
        != (run_cli(capsys, "neighbors", DEMO, "--set", f"output.path={local}", "-q", "paris", "-k", "1")[1])
    )
    # An unknown word: the same one-line "did you mean" error and exit code 2 both ways.
    errors = []
    for root in (local, viewfs):
        code, out, err = run_cli(capsys, "analogy", DEMO, "--set", f"output.path={root}", "-q", "man", "kingg", "wman")
        assert code == 2 and out == ""
        errors.append(err)
    assert errors[0] == errors[1]
    assert "word 'kingg' is not in the vocabulary" in errors[0] and "did you mean 'king'?" in errors[0]


def test_a_fresh_process_answers_without_spark(roots):
    v, local, _ = roots
    done, spark_loaded = fresh_process("neighbors", DEMO, "--set", f"output.path={local}", "-q", "king", "-k", "3")
    assert done.returncode == 0, done.stderr  # also: no abort at exit (delta-rs scan threads)
    assert not spark_loaded
    lines = done.stdout.splitlines()
    assert lines == [f"{w}\t{s:.4f}" for w, s in v.most_similar("king", topn=3)]
    done, spark_loaded = fresh_process("neighbors", DEMO, "--set", f"output.path={local}", "kingg")
    assert done.returncode == 2 and not spark_loaded
    assert "did you mean 'king'?" in done.stderr and "Traceback" not in done.stderr
    done, spark_loaded = fresh_process("neighbors", DEMO, "--set", f"output.path={local}", "--model", "glove", "king")
    assert done.returncode == 2 and not spark_loaded
    assert "no vectors for model 'glove'" in done.stderr and "models present: ['sgns']" in done.stderr
    done, spark_loaded = fresh_process("neighbors", DEMO, "--set", f"output.path={local}-nothing", "king")
    assert done.returncode == 2 and not spark_loaded
    assert f"no Delta table at {local}-nothing nor at {local}-nothing/vectors" in done.stderr


def test_which_storage_delta_rs_reads():
    for root in ("/data/run", "runs/demo", "file:///data/run", "s3://b/run", "s3a://b/run", "gs://b/run",
                 "abfss://c@acct.dfs.core.windows.net/run"):  # fmt: skip
        assert lookup.delta_rs_reads(root), root
    for root in ("hdfs://nn:8020/run", "viewfs:///run", "dbfs:/run"):
        assert not lookup.delta_rs_reads(root), root


def test_import_then_evaluate_query_and_export(spark, tmp_path, capsys):
    v = _vectors()
    root = str(tmp_path / "out")
    over = ["--set", f"output.path={root}", "-q"]
    files = {"word2vec": tmp_path / "v.txt", "word2vec-binary": tmp_path / "v.bin", "glove": tmp_path / "v.glove"}
    for fmt, path in files.items():
        v.save(path, fmt)
    files["fasttext"] = files["word2vec"]  # a .vec file is word2vec text
    for fmt, path in files.items():
        name = f"pre-{fmt}"
        code, out, err = run_cli(capsys, "import", DEMO, str(path), "--format", fmt, "--name", name, *over)
        assert code == 0, err
        summary = json.loads(out)
        assert summary["stage"] == "import" and summary["rows"] == len(v) and summary["stats"]["model"] == name
        got = Vectors.from_table(root, model=name)
        assert got.words == v.words and np.array_equal(got.matrix, v.matrix)
        assert got.metadata["stage"] == "import" and got.metadata["vocab_size"] == len(v)

    # evaluate scores it as Vectors.evaluate does on the file
    code, out, err = run_cli(capsys, "evaluate", DEMO, *over, "--model", "pre-word2vec", "--json")
    assert code == 0, err
    scores = json.loads(out)["pre-word2vec"]
    expected = Vectors.load(files["word2vec"]).evaluate()
    assert scores["wordsim353"]["spearman"] == pytest.approx(expected["wordsim353"]["spearman"])
    assert scores["wordsim353"]["pairs"] == expected["wordsim353"]["pairs"] == 353
    code, out, err = run_cli(capsys, "evaluate", DEMO, *over, "--model", "pre-word2vec-binary")
    assert code == 0, err
    header, _, first = out.splitlines()[:3]  # the table's columns fit the longer name
    assert first.startswith("pre-word2vec-binary wordsim353") and header.index("benchmark") == first.index("wordsim353")

    # the queries and export, as on a trained model
    code, out, err = run_cli(capsys, "neighbors", DEMO, *over, "--model", "pre-glove", "king", "-k", "4")
    assert code == 0, err
    assert out.splitlines() == [f"{w}\t{s:.4f}" for w, s in v.most_similar("king", topn=4)]
    exported = tmp_path / "export.bin"
    code, out, err = run_cli(capsys, "export", DEMO, *over, "--model", "pre-fasttext", "--format", "word2vec-binary",
                             "--out", str(exported))  # fmt: skip
    assert code == 0, err
    back = Vectors.load(exported, "word2vec-binary")
    assert back.words == v.words and np.array_equal(back.matrix, v.matrix)

    # Importing again under a name replaces that model only.
    small = tmp_path / "small.txt"
    Vectors.from_arrays(["a", "b", "c"], np.eye(3)).save(small)
    code, _, err = run_cli(capsys, "import", DEMO, str(small), "--name", "pre-glove", *over)
    assert code == 0, err
    assert Vectors.from_table(root, model="pre-glove").words == ["a", "b", "c"]
    assert Vectors.from_table(root, model="pre-word2vec").words == v.words


def test_import_refuses_trained_names_bad_names_and_bad_files(tmp_path):
    good = tmp_path / "v.txt"
    Vectors.from_arrays(["a", "b"], np.eye(2)).save(good)
    root = str(tmp_path / "out")
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    twice = tmp_path / "twice.txt"
    twice.write_text("3 2\na 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    cases = [
        ((str(good), "--name", "sgns"), "reserved for the trained models"),
        ((str(good), "--name", "GloVe"), "reserved for the trained models"),
        ((str(good), "--name", "my model'"), "must be 1 to 64 letters"),
        ((str(bad), "--name", "mine"), "bad.txt"),
        ((str(twice), "--name", "mine"), "word 'a' appears twice (rows 1 and 3)"),
        ((str(tmp_path / "nothing.txt"), "--name", "mine"), "no file"),
        ((str(good), "--name", "mine", "--format", "word2vec-binary"), "v.txt"),
    ]
    for args, message in cases:
        # Refused before Spark starts: a bad file or name costs no JVM.
        done, spark_loaded = fresh_process("import", DEMO, *args, "--set", f"output.path={root}")
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert not spark_loaded, args
    assert not Path(root).exists()
