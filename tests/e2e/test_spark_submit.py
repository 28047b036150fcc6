"""`spark-submit jobs/pipeline.py CONF` from another working directory, as users submit it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from embedpipe.session import DELTA_CATALOG, DELTA_EXTENSION, DELTA_PACKAGE

REPO = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = str(Path(sys.executable).with_name("spark-submit"))
DELTA = ["--packages", DELTA_PACKAGE, "--conf", f"spark.sql.extensions={DELTA_EXTENSION}",
         "--conf", f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}"]  # fmt: skip


def submit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    return subprocess.run(
        [SPARK_SUBMIT, "--master", "local[2]", *args],
        capture_output=True, text=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip


def test_submitted_from_another_folder_with_relative_paths_resolved_against_the_config(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat . the dog sat on the log .\n" * 50, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    done = submit(
        elsewhere, *DELTA, str(REPO / "jobs" / "pipeline.py"), str(REPO / "conf" / "demo.yaml"),
        "--set", f"input.path={corpus}", "--set", f"output.path={out}", "--set", "vocab.min_count=1",
        "--set", "stages=[ingest,vocab]",
    )  # fmt: skip
    # spark-submit merges the Python driver's stderr into its stdout.
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (summary_file,) = (out / "_runs").glob("*.json")
    summary = json.loads(summary_file.read_text())
    assert [s["stage"] for s in summary["stages"]] == ["ingest", "vocab"]
    assert {s["stage"]: s["rows"] for s in summary["stages"]}["vocab"] == 7  # the cat sat on mat dog log
    assert (out / "vocab" / "_delta_log").is_dir() and not (elsewhere / "runs").exists()


def test_submitted_without_delta_fails_at_once_naming_what_to_add(tmp_path):
    done = submit(tmp_path, str(REPO / "jobs" / "pipeline.py"), str(REPO / "conf" / "demo.yaml"),
                  "--set", f"output.path={tmp_path / 'run'}")  # fmt: skip
    assert done.returncode == 2
    said = done.stdout + done.stderr
    assert "has no Delta Lake" in said and f"--packages {DELTA_PACKAGE}" in said
    assert not (tmp_path / "run" / "tokens").exists(), "nothing was written"
