"""The ingest stage: raw text in, the ``tokens`` table out.

- :mod:`.stage`: reading the input (text, gz/bz2, Parquet, Delta, JSONL) with Spark and writing ``tokens``;
- :mod:`.textfiles`: splitting local text files into byte blocks that executors read themselves.

The cleaning and tokenization rules are :mod:`embedpipe.cleaning`, shared plumbing: the
embed stage tokenizes its texts by the same rules.
"""

from __future__ import annotations

from embedpipe.ingest.stage import run

__all__ = ["run"]
