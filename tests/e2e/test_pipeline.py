"""The demo end to end, the CLI as users meet it, and a two-executor cluster."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedpipe import tables
from embedpipe.cli import main
from embedpipe.config import load_config
from embedpipe.pipeline import run_pipeline
from embedpipe.training import sgns as sgns_stage
from embedpipe.vectors import read_vectors
from embedpipe.vectors.queries import analogy, neighbors

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "conf" / "demo.yaml"
CLI = [sys.executable, "-m", "embedpipe.cli"]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`embedpipe ARGS` in a new process, as a user's shell runs it (a JVM start each)."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`embedpipe ARGS` through the same ``main`` in this process: (exit code, stdout, stderr).

    ``get_session`` hands the command the suite's running session, so a
    command costs its work and not a JVM start (about 15 s each here).
    Starting a process is covered by the ``cli`` tests in this file
    (``--help``, bad config, the two-executor run) and by test_spark_submit.
    """
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    """The shipped demo config, unchanged but for its output folder."""
    out = tmp_path_factory.mktemp("demo")
    cfg = load_config(DEMO, [f"output.path={out}"])
    summary = run_pipeline(spark, cfg)
    return cfg, summary


def scores(summary):
    return next(s for s in summary["stages"] if s["stage"] == "evaluate")["stats"]["results"]


def test_demo_trains_both_models_to_a_useful_quality(demo_run):
    cfg, summary = demo_run
    assert [s["stage"] for s in summary["stages"]] == list(cfg.stages)
    r = scores(summary)
    # Thresholds sit below what the demo measures (see README) and far above
    # what random or broken vectors score (about 0 for all three).
    assert r["sgns"]["wordsim353"]["spearman"] > 0.30
    assert r["sgns"]["simlex999"]["spearman"] > 0.10
    assert r["sgns"]["google_analogy"]["accuracy"] > 0.03
    assert r["glove"]["wordsim353"]["spearman"] > 0.25
    assert r["glove"]["google_analogy"]["accuracy"] > 0.015
    for model in ("sgns", "glove"):
        assert r[model]["wordsim353"]["coverage"] > 0.7
        assert r[model]["google_analogy"]["coverage"] > 0.3


def test_evaluation_table_rows_match_the_printed_scores(spark, demo_run):
    cfg, summary = demo_run
    rows = tables.read(spark, cfg.output.path, "evaluation").collect()
    r = scores(summary)
    got = {(x["model"], x["benchmark"], x["metric"]): x["value"] for x in rows}
    assert got[("sgns", "wordsim353", "spearman")] == pytest.approx(r["sgns"]["wordsim353"]["spearman"])
    assert got[("glove", "google_analogy", "accuracy")] == pytest.approx(r["glove"]["google_analogy"]["accuracy"])
    runs = {x["run_id"] for x in rows if x["model"] == "sgns"}
    assert runs == {read_vectors(spark, cfg.output.path, "sgns").run_id}


def test_evaluate_json_equals_gensims_independent_computation(spark, demo_run, capsys):
    from gensim.models import KeyedVectors

    cfg, _ = demo_run
    rows_before = tables.read(spark, cfg.output.path, "evaluation").count()
    code, out, err = cli_here(capsys, "evaluate", str(DEMO), "--set", f"output.path={cfg.output.path}", "--json", "-q")
    assert code == 0, err
    ours = json.loads(out)
    data = REPO / "embedpipe" / "data" / "eval"
    for model in ("glove", "sgns"):
        vec = read_vectors(spark, cfg.output.path, model)
        kv = KeyedVectors(vec.dim)
        kv.add_vectors(vec.words, vec.matrix)
        ws = kv.evaluate_word_pairs(str(data / "wordsim353.tsv"), restrict_vocab=len(vec.words))
        sl = kv.evaluate_word_pairs(str(data / "simlex999.txt"), restrict_vocab=len(vec.words))
        acc, _ = kv.evaluate_word_analogies(str(data / "questions-words.txt"), restrict_vocab=30000)
        assert ours[model]["wordsim353"]["spearman"] == pytest.approx(ws[1].statistic, abs=0.002)
        assert ours[model]["simlex999"]["spearman"] == pytest.approx(sl[1].statistic, abs=0.002)
        assert ours[model]["google_analogy"]["accuracy"] == pytest.approx(acc, abs=0.002)
    # History is kept: this evaluation appended its 12 rows to the earlier ones.
    assert tables.read(spark, cfg.output.path, "evaluation").count() == rows_before + 12


def test_exported_word2vec_file_loads_in_gensim_identically(spark, demo_run, tmp_path, capsys):
    from gensim.models import KeyedVectors

    cfg, _ = demo_run
    for fmt, binary in (("word2vec", False), ("word2vec-binary", True)):
        out = tmp_path / f"sgns.{fmt}"
        code, printed, err = cli_here(capsys, "export", str(DEMO), "--set", f"output.path={cfg.output.path}",
                                      "--model", "sgns", "--format", fmt, "--out", str(out), "-q")  # fmt: skip
        assert code == 0, err
        assert printed.strip() == str(out), "the command prints the file it wrote"
        kv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
        vec = read_vectors(spark, cfg.output.path, "sgns")
        assert kv.index_to_key == vec.words
        np.testing.assert_array_equal(kv.vectors, vec.matrix)


def test_queries_answer_on_the_executors_as_on_the_whole_matrix(spark, demo_run, capsys):
    cfg, _ = demo_run
    over = ["--set", f"output.path={cfg.output.path}", "-q"]
    code, out, err = cli_here(capsys, "neighbors", str(DEMO), *over, "--model", "sgns", "france", "-k", "5")
    assert code == 0, err
    sgns_vec = read_vectors(spark, cfg.output.path, "sgns")
    expected = neighbors(sgns_vec.words, sgns_vec.matrix, "france", 5)
    assert [line.split()[0] for line in out.strip().splitlines()] == [w for w, _ in expected]
    code, out, err = cli_here(capsys, "analogy", str(DEMO), *over, "--model", "glove", "man", "king", "woman")
    assert code == 0, err
    glove_vec = read_vectors(spark, cfg.output.path, "glove")
    assert out.split()[0] == analogy(glove_vec.words, glove_vec.matrix, "man", "king", "woman")[0][0]
    # An expected error is a message and exit code 2; an unexpected one would
    # raise out of main() here and fail the test.
    code, out, err = cli_here(capsys, "neighbors", str(DEMO), *over, "--model", "sgns", "qwxzzy")
    assert code == 2
    assert "qwxzzy" in err and "Traceback" not in err


def test_bad_config_fails_fast_with_the_key_and_the_fix(tmp_path):
    done = cli("run", str(DEMO), "--set", "sgns.dimm=3")
    assert done.returncode == 2
    assert "unknown config key sgns.dimm" in done.stderr and "'dim'" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli("run", str(DEMO), "--set", "sgns.negative=0")
    assert done.returncode == 2 and "sgns.negative" in done.stderr


def test_help_lists_the_commands():
    done = cli("--help")
    assert done.returncode == 0
    commands = ("run", "ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate", "export", "neighbors",
                "neighbors-table")
    for cmd in (*commands, "analogy", "import"):
        assert cmd in done.stdout


def test_pipeline_on_two_executor_jvms(spark, tmp_path):
    """The suite's session runs on local-cluster[2,1,1024]: executors are separate
    processes with their own memory, so any reliance on driver-local state would
    fail. Both models train in blocks (4 replicas as 2 tasks of 2 blocks), and
    skip-gram's vectors there are those of the same run by the CLI in a new
    process on local[2]: one JVM, and a session that has run nothing before."""
    sample = REPO / "embedpipe" / "data" / "demo" / "wiki_sample.txt.gz"
    small = tmp_path / "small.txt.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as src, gzip.open(small, "wt", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i == 1500:
                break
            dst.write(line)
    out = tmp_path / "out"
    settings = [
        f"input.path={small}", f"output.path={out}", "glove.epochs=3", "sgns.epochs=2", "glove.dim=20",
        "sgns.dim=20", "spark.partitions=4", "cooccur.shards=4",
        # The blocks then live and move between the two executor JVMs.
        "glove.distribution=rotation", "sgns.distribution=rotation",
    ]  # fmt: skip
    over = [x for item in settings for x in ("--set", item)]
    done = cli("run", str(DEMO), *over, "--set", "spark.master=local[2]", "--json", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    in_one_jvm = read_vectors(spark, str(out), "sgns")
    # The same seed, replicas and tasks on two executor JVMs: the same vectors, bit for bit.
    sgns_stage.run(spark, load_config(DEMO, settings))
    np.testing.assert_array_equal(read_vectors(spark, str(out), "sgns").matrix, in_one_jvm.matrix)
    summary = json.loads(done.stdout)
    stages = {s["stage"]: s for s in summary["stages"]}
    assert set(stages) == {"ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate"}
    assert stages["vocab"]["rows"] > 500
    assert stages["cooccur"]["rows"] > 10_000
    assert set(stages["evaluate"]["stats"]["results"]) == {"glove", "sgns"}


def test_a_second_identical_run_skips_every_stage_and_a_changed_key_reruns_only_its_stages(spark, demo_run):
    cfg, first = demo_run
    settle = {s["stage"]: s["skipped"] for s in run_pipeline(spark, cfg)["stages"]}
    # Other tests ran `embedpipe evaluate` outside the pipeline; that moved the
    # evaluation table's version, so evaluate alone may run once more here.
    assert all(skipped for stage, skipped in settle.items() if stage != "evaluate")
    again = run_pipeline(spark, cfg)
    assert all(s["skipped"] for s in again["stages"])
    assert again["seconds"] < first["seconds"] / 4
    # A stage's fingerprint covers only the keys it reads: skip-gram's settings
    # (its subsampling too) re-run skip-gram and what reads its vectors, nothing upstream.
    changed = load_config(DEMO, [f"output.path={cfg.output.path}", "sgns.epochs=1", "sgns.sample=0.01"])
    rerun = {s["stage"]: s["skipped"] for s in run_pipeline(spark, changed)["stages"]}
    assert rerun == {
        "ingest": True, "vocab": True, "encode": True, "cooccur": True, "glove": True,
        "sgns": False, "evaluate": False,
    }  # fmt: skip
    alone = dataclasses.replace(changed, stages=("vocab", "encode", "sgns", "evaluate"))
    forced = run_pipeline(spark, alone, force=True)
    assert not any(s["skipped"] for s in forced["stages"])
