"""Where the cooccur stage's time goes, phase by phase, on existing tables.

    python -m bench.cooccur_phases --tables bench/out-exact/tables --out DIR

Reads the ``corpus`` and ``vocab`` tables of an earlier run (for example the
ones ``bench.exactness`` leaves in ``OUT/tables``) and times, in one warmed
``local[2]`` session, the stage's plan cut at three points, each a Spark job
of its own (so each time includes the phases before it):

1. ``count``: the corpus read and counted, partial counts handed to Spark
   (written to Spark's ``noop`` sink, so nothing is shuffled);
2. ``count+sum``: the same, shuffled to the summing tasks and summed into
   the table's rows (``noop`` sink);
3. ``count+sum+write``: the whole stage's plan written as a Delta table, with
   and without Delta's column statistics.

``--memory-mb`` takes a comma list of ``cooccur.memory_mb`` values to time
phase 2 at. Writes ``OUT/cooccur_phases.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", required=True, help="output.path of a run that wrote corpus and vocab")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--memory-mb", default="256,1024", help="comma list of cooccur.memory_mb for phase 2")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from embedpipe import cooccur, tables
    from embedpipe.config import build_config
    from embedpipe.session import get_session

    def config(memory_mb: int) -> Any:
        return build_config(
            {
                "input": {"path": "unused"},
                "output": {"path": args.tables},
                "spark": {"master": "local[2]", "partitions": 2, "driver_memory": "8g"},
                "cooccur": {"window": 10, "weighting": "harmonic", "memory_mb": memory_mb},
            }
        )

    memories = [int(m) for m in args.memory_mb.split(",")]
    spark = get_session(config(memories[0]).spark)
    counts = tables.read_vocab_counts(spark, args.tables)
    vocab_size, tokens = len(counts), int(counts.sum())
    corpus = tables.read(spark, args.tables, "corpus")
    corpus.count()  # the corpus's files in the OS cache for every phase alike
    times: dict[str, float] = {}

    def timed(label: str, job: Any) -> None:
        t0 = time.perf_counter()
        job()
        times[label] = round(time.perf_counter() - t0, 1)
        print(f"{label:<44} {times[label]:7.1f} s", flush=True)

    def noop(df: Any) -> None:
        df.write.format("noop").mode("overwrite").save()

    # A first count compiles the kernels in the workers; it is not reported.
    cfg = config(memories[0])
    c = cfg.cooccur
    routes = cooccur.route_keys(spark, cooccur.sum_buckets(c.shards, 2, tokens, c.window, c.memory_mb << 20))
    counter = cooccur.make_counter(vocab_size, c.window, True, c.memory_mb << 20, routes)
    noop(corpus.repartition(2).mapInArrow(counter, cooccur.PARTIAL))
    timed(f"count (memory_mb {c.memory_mb})", lambda: noop(corpus.repartition(2).mapInArrow(counter, cooccur.PARTIAL)))
    for m in memories:
        timed(
            f"count+sum (memory_mb {m})",
            lambda m=m: noop(cooccur.count_matrix(spark, corpus, vocab_size, tokens, config(m))),
        )
    rows = cooccur.count_matrix(spark, corpus, vocab_size, tokens, cfg)
    with tempfile.TemporaryDirectory(prefix="embedpipe-phases-") as tmp:
        path = os.path.join(tmp, "delta")
        for stats in ("true", "false"):
            spark.conf.set("spark.databricks.delta.stats.collect", stats)
            label = f"count+sum+write (memory_mb {c.memory_mb}, stats {stats})"
            timed(label, lambda: rows.write.format("delta").mode("overwrite").partitionBy("shard").save(path))
        spark.conf.unset("spark.databricks.delta.stats.collect")
    (args.out / "cooccur_phases.json").write_text(json.dumps({"tables": args.tables, "seconds": times}, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
