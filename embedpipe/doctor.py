"""Check that this machine can run embedpipe, and cache the Delta jars.

``python -m embedpipe.doctor`` (run by ``make setup``) checks for Java,
starts a local Spark session with Delta, which makes Spark's resolver fetch
``io.delta:delta-spark`` once into ``~/.ivy2.5.2`` (later sessions need no
network), writes and reads back a tiny Delta table, and runs a numba-backed
``mapInArrow`` task to prove the executors' Python has the kernels' imports.

If Spark's resolver cannot reach Maven Central but ``mvn`` can, run
``mvn dependency:get -Dartifact=io.delta:delta-spark_4.2_2.13:4.4.0``: Spark
looks in the local Maven repository (``~/.m2``) first.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time


def main() -> int:
    if shutil.which("java") is None:
        print(
            "embedpipe doctor: 'java' not found; install a JDK 17 (apt-get install openjdk-17-jdk-headless)",
            file=sys.stderr,
        )
        return 1
    t0 = time.perf_counter()
    from embedpipe.config import SparkConfig
    from embedpipe.session import build_local_session

    spark = build_local_session(SparkConfig(master="local[2]"))
    with tempfile.TemporaryDirectory() as tmp:
        spark.range(5).write.format("delta").save(f"{tmp}/t")
        n = spark.read.format("delta").load(f"{tmp}/t").count()

    def probe(batches):  # type: ignore[no-untyped-def]
        import numba  # noqa: F401  executors must import the kernels' dependencies
        import pyarrow as pa

        for b in batches:
            yield pa.RecordBatch.from_pydict({"id": b.column("id")})

    m = spark.range(4).mapInArrow(probe, "id long").count()
    spark.stop()
    if n != 5 or m != 4:
        print("embedpipe doctor: Delta round trip failed", file=sys.stderr)
        return 1
    print(
        f"embedpipe doctor: Java, Spark {spark.version}, Delta and numba on executors OK "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
