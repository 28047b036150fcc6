"""Trained vectors: the ``vectors`` table, queries on it, and export files.

- :mod:`.keyed`: :class:`Vectors`, the one object for trained vectors (no Spark needed);
- :mod:`.table`: writing and reading the ``vectors`` table through Spark;
- :mod:`.queries`: nearest neighbours and analogies;
- :mod:`.formats`: word2vec text and binary, and GloVe text files;
- :mod:`.export`: the export stage and the CLI's queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedpipe.vectors.keyed import Vectors

__all__ = ["MODELS", "Vectors", "available_models", "read_vectors", "write_vectors"]

if TYPE_CHECKING:
    from embedpipe.vectors.table import MODELS, available_models, read_vectors, write_vectors

_TABLE = {"MODELS", "available_models", "read_vectors", "write_vectors"}


def __getattr__(name: str) -> Any:
    # The table functions import pyspark; Vectors must not need it.
    if name in _TABLE:
        from embedpipe.vectors import table

        return getattr(table, name)
    raise AttributeError(f"module 'embedpipe.vectors' has no attribute {name!r}")
