"""Trained vectors: the ``vectors`` table, queries on it, and export files.

- :mod:`.table`: writing and reading the ``vectors`` table;
- :mod:`.queries`: nearest neighbours and analogies;
- :mod:`.formats`: word2vec text and binary, and GloVe text files;
- :mod:`.export`: the export stage and the CLI's queries.
"""

from __future__ import annotations

from embedpipe.vectors.table import MODELS, Vectors, available_models, read_vectors, write_vectors

__all__ = ["MODELS", "Vectors", "available_models", "read_vectors", "write_vectors"]
