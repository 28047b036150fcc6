"""embedpipe: distributed word-embedding training on Apache Spark.

Stages (each reads and writes Delta tables under ``output.path``):
ingest -> vocab -> cooccur -> glove / sgns -> evaluate / export.
"""

from __future__ import annotations

__version__ = "0.1.0"
