"""embedpipe: distributed word-embedding training on Apache Spark.

Stages (each reads and writes Delta tables under ``output.path``):
ingest -> vocab -> encode -> cooccur -> glove / sgns -> evaluate / export
(sgns trains from the encoded corpus, not from the co-occurrences).
"""

from __future__ import annotations

__version__ = "0.1.0"
