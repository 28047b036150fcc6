"""The Spark ML Pipeline test on both masters: the suite's two executor JVMs, and local[2] in a new process.

The suite's session runs on local-cluster (tests/conftest.py). A notebook or a
single machine runs on local[N]: one JVM whose Python workers share the
driver's machine. The same test, run again as pytest runs it with the
master named by ``EMBEDPIPE_TEST_MASTER``, must pass there too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEFAULT_MASTER, MASTER_VARIABLE

REPO = Path(__file__).resolve().parents[2]
PIPELINE_TEST = "tests/stages/test_ml.py::test_a_pipeline_with_skipgram_fits_saves_loads_and_predicts_the_same"
MASTER_TEST = "tests/e2e/test_ml_on_local.py::test_the_suite_session_runs_on_the_named_master"


def test_the_suite_session_runs_on_the_named_master(spark):
    assert spark.conf.get("spark.master") == os.environ.get(MASTER_VARIABLE, DEFAULT_MASTER)


@pytest.mark.slow  # a new process: a JVM start and a training run
def test_the_spark_ml_pipeline_test_passes_on_local_2(tmp_path):
    env = {**os.environ, MASTER_VARIABLE: "local[2]", "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "pytest"),
         MASTER_TEST, PIPELINE_TEST],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
