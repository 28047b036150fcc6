"""``embedpipe import``: a pretrained vectors file becomes a model of the ``vectors`` table.

``embedpipe import CONF FILE --format F --name NAME`` reads a word2vec text
or binary, GloVe text or fastText ``.vec`` file and writes it as model
``NAME`` of ``<output.path>/vectors`` through Spark, with the trainers'
writer: one atomic commit replacing only that model's rows, and commit
metadata that ``read_vectors`` and ``Vectors.from_table`` check. Then
``evaluate --model NAME``, ``neighbors``/``analogy --model NAME`` and
``export --model NAME`` work on it as on a trained model, e.g. to score
gensim's vectors beside embedpipe's with one command.

Rows keep the file's order (word2vec, GloVe and fastText files list the
most frequent words first, which ``eval.restrict_vocab`` relies on); the
files carry no counts, so ``count`` is 0. ``glove`` and ``sgns`` stay the
trained models' names.

The file is read and checked before Spark starts, so a bad name or file
costs no JVM start.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from embedpipe import paths
from embedpipe.config import PipelineConfig, model_name_problem
from embedpipe.errors import ConfigError, InputError, VectorFileError
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors import formats
from embedpipe.vectors.keyed import Vectors

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["import_vectors", "read_pretrained"]


def read_pretrained(path: str, fmt: str, name: str) -> Vectors:
    """Check ``name`` and read the file at ``path`` (a local file) in format ``fmt``.

    Raises
    ------
    ConfigError
        ``name`` is not a valid model name, or is ``glove`` or ``sgns``.
    InputError
        ``path`` is not a local file.
    VectorFileError
        The file is malformed, or holds a word twice or a non-finite value.
    """
    problem = model_name_problem(name, imported=True)
    if problem is not None:
        raise ConfigError(problem)
    local = paths.local_path(path)
    if local is None:
        raise InputError(f"embedpipe import reads a local file; copy {path} to this machine first")
    if not os.path.isfile(local):
        raise InputError(f"no file {path} to import")
    vec = Vectors.load(local, formats.format_name(fmt))
    _check_importable(vec, path)
    return vec


def _check_importable(vec: Vectors, path: str) -> None:
    """Words unique and values finite, so the model can be queried and exported like a trained one."""
    seen: dict[str, int] = {}
    for i, w in enumerate(vec.words):
        j = seen.setdefault(w, i)
        if j != i:
            raise VectorFileError(
                f"{path}: word {w!r} appears twice (rows {j + 1} and {i + 1}); "
                "a model's words must be unique: remove the duplicate line"
            )
    finite = np.isfinite(vec.matrix).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise VectorFileError(
            f"{path}: the vector of {vec.words[bad]!r} (row {bad + 1}) holds NaN or inf; "
            f"{int((~finite).sum())} row(s) are affected: fix or drop them"
        )


def import_vectors(spark: SparkSession, cfg: PipelineConfig, vec: Vectors, name: str) -> StageResult:
    """Write ``vec`` (from :func:`read_pretrained`) as model ``name`` of the vectors table."""
    from embedpipe.vectors.table import write_vectors

    t0 = time.perf_counter()
    run_id = new_run_id()
    source: dict[str, Any] = {k: vec.metadata[k] for k in ("source", "format") if k in vec.metadata}
    write_vectors(
        spark, cfg.output.path, model=name, run_id=run_id, words=vec.words, counts=vec.counts, matrix=vec.matrix,
        metadata={"stage": "import", "imported": True, **source},
    )  # fmt: skip
    stats = {"model": name, "dim": vec.dim, "table": paths.join(cfg.output.path, "vectors"), **source}
    return StageResult("import", run_id, time.perf_counter() - t0, rows=len(vec), stats=stats)
