"""Local sessions: their settings, and the Delta jar list an earlier session resolved."""

from __future__ import annotations

from embedpipe import session
from embedpipe.config import SparkConfig


def test_a_remembered_jar_list_is_used_only_while_every_jar_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert session.cached_delta_jars() is None
    jars = [tmp_path / "delta-spark.jar", tmp_path / "delta-storage.jar"]
    for j in jars:
        j.write_bytes(b"PK")
    manifest = tmp_path / "cache" / "embedpipe" / (session.DELTA_PACKAGE.replace(":", "_") + ".jars")
    manifest.parent.mkdir(parents=True)
    manifest.write_text(",".join(f"file://{j}" for j in jars))
    assert session.cached_delta_jars() == ",".join(f"file://{j}" for j in jars)
    jars[1].unlink()
    # A cleaned Ivy cache falls back to resolving the package again.
    assert session.cached_delta_jars() is None


def test_the_running_session_remembers_its_jars_for_the_next_one(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    session._remember_delta_jars(spark)
    jars = session.cached_delta_jars()
    assert jars is not None and "delta-spark" in jars


def test_a_local_session_leaves_shuffles_uncompressed_unless_its_config_compresses_them(spark):
    # One machine's shuffles go through the page cache, so lz4 would only spend its cores.
    assert spark.conf.get("spark.shuffle.compress") == "false"
    assert session.local_settings(SparkConfig())["spark.shuffle.compress"] == "false"
    asked = SparkConfig(conf={"spark.shuffle.compress": "true", "spark.ui.enabled": "true"})
    settings = session.local_settings(asked)
    assert settings["spark.shuffle.compress"] == "true" and settings["spark.ui.enabled"] == "true"
    assert settings["spark.sql.execution.arrow.pyspark.enabled"] == "true", "the other defaults stay"
