"""Shared fixtures: one local SparkSession with Delta for the whole suite."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    """local[2] with the UI off and few shuffle partitions (see embedpipe.session)."""
    from embedpipe.config import SparkConfig
    from embedpipe.session import build_local_session

    session = build_local_session(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}))
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
