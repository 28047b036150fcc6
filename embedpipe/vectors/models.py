"""Name a model of the ``vectors`` table, optionally at an earlier run, and load it.

``MODEL`` is a model's current vectors; ``MODEL@RUN`` is the run ``RUN`` of
that model kept in the table's Delta history (the run ids that training,
``import``, ``align`` and ``bias`` print). ``embedpipe align`` and
``embedpipe bias`` take such references.

Loading goes through delta-rs where it reads ``output.path`` (no JVM, as
``neighbors`` does) and through Spark elsewhere (``hdfs://``, ``viewfs://``,
``dbfs:/``); the caller passes a function that gives the Spark session, so
no JVM starts unless it is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from embedpipe import paths
from embedpipe.config import model_name_problem
from embedpipe.errors import ConfigError, TableError
from embedpipe.vectors.keyed import Vectors
from embedpipe.vectors.lookup import delta_rs_reads

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["ModelRef", "load_model", "parse_ref"]

log = logging.getLogger(__name__)


class ModelRef(tuple[str, str | None]):
    """``(model, run_id or None)``, printed as ``MODEL`` or ``MODEL@RUN``."""

    __slots__ = ()

    def __new__(cls, model: str, run_id: str | None = None) -> ModelRef:
        return super().__new__(cls, (model, run_id))

    @property
    def model(self) -> str:
        return self[0]

    @property
    def run_id(self) -> str | None:
        return self[1]

    def __str__(self) -> str:
        return self.model if self.run_id is None else f"{self.model}@{self.run_id}"


def parse_ref(text: str) -> ModelRef:
    """``"sgns"`` or ``"sgns@20261203T101500Z-ab12"`` as a :class:`ModelRef`.

    Raises
    ------
    ConfigError
        The model name is not one a vectors table holds, or ``@`` has no run after it.
    """
    model, at, run = text.partition("@")
    problem = model_name_problem(model)
    if problem is not None:
        raise ConfigError(problem)
    if at and not run:
        raise ConfigError(
            f"model {text!r}: put a run id after '@' (e.g. {model}@20261203T101500Z-ab12) or drop the '@'"
        )
    return ModelRef(model, run or None)


def load_model(root: str, ref: ModelRef, spark: Callable[[], SparkSession]) -> Vectors:
    """The vectors of ``ref`` under ``output.path`` ``root``.

    Raises
    ------
    TableError
        No vectors table, no such model, or no such run of it.
    """
    if delta_rs_reads(root):
        where = paths.local_path(root) or root
        try:
            return Vectors.from_table(where, ref.model, ref.run_id)
        except TableError:
            raise
        except Exception as exc:  # noqa: BLE001 - delta-rs raises OSError, DeltaError ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("delta-rs cannot read %s (%s); reading through Spark", paths.join(root, "vectors"), first)
    return _load_with_spark(spark(), root, ref)


def _load_with_spark(spark: SparkSession, root: str, ref: ModelRef) -> Vectors:
    from pyspark.sql import functions as F

    from embedpipe import tables
    from embedpipe.vectors.keyed import vectors_from_rows
    from embedpipe.vectors.table import read_vectors

    if ref.run_id is None:
        return read_vectors(spark, root, ref.model)
    commits = [
        h for h in tables.history(spark, root, "vectors")
        if h["metadata"].get("model") == ref.model and h["metadata"].get("run_id") == ref.run_id
    ]  # fmt: skip
    if not commits:
        runs = list(
            dict.fromkeys(
                h["metadata"].get("run_id")
                for h in tables.history(spark, root, "vectors")
                if h["metadata"].get("model") == ref.model
            )
        )
        raise TableError(
            f"no run {ref.run_id!r} of model {ref.model!r} in the history of {paths.join(root, 'vectors')}; "
            f"runs present: {runs or 'none'}"
        )
    version = commits[0]["version"]
    df = tables.read(spark, root, "vectors", version=version).filter(F.col("model") == ref.model)
    t = df.select("run_id", "word", "id", "vector", "count").orderBy("id").toArrow()
    return vectors_from_rows(t, ref.model, {**commits[0]["metadata"], "table_version": version})
