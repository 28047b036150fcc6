"""Shared fixtures: one local SparkSession with Delta for the whole suite."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


# The suite's master. The default runs executors as separate processes; a test may
# run another test of the suite in a new process on another master (local[2]).
MASTER_VARIABLE = "EMBEDPIPE_TEST_MASTER"
DEFAULT_MASTER = "local-cluster[2,1,1024]"


# Each test folder is a layer of the house; its marker lets `make test-fast` pick the quick ones.
LAYER_MARKERS = {"kernels": "kernels", "stages": "stages", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in LAYER_MARKERS:
            item.add_marker(LAYER_MARKERS[folder])


# A Hadoop filesystem that Python's open() cannot reach: viewfs:///embedpipe-test/...
# is mounted on a local folder, so a test can check that nothing under output.path
# is touched with Python file I/O (clusters give URIs such as s3a:// or abfss://).
VIEWFS_MOUNT = "/embedpipe-test"


@pytest.fixture(scope="session")
def viewfs_root(tmp_path_factory):
    """The local folder behind viewfs:///embedpipe-test."""
    return tmp_path_factory.mktemp("viewfs")


@pytest.fixture(scope="session")
def spark(viewfs_root):
    """Two executor processes of one core and 1 GiB each, as on a cluster, so nothing can lean on
    the driver's memory or its Python state; the UI off and few shuffle partitions.
    ``EMBEDPIPE_TEST_MASTER`` names another master, for a test run again in a new process."""
    from embedpipe.config import SparkConfig
    from embedpipe.session import build_local_session

    conf = {
        "spark.sql.shuffle.partitions": "2",
        f"spark.hadoop.fs.viewfs.mounttable.default.link.{VIEWFS_MOUNT}": f"file://{viewfs_root}",
    }
    session = build_local_session(SparkConfig(master=os.environ.get(MASTER_VARIABLE, DEFAULT_MASTER), conf=conf))
    yield session
    session.stop()


@pytest.fixture
def write_text(tmp_path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> str:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return str(p)

    return _write
