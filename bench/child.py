"""One measurement in its own process: ``python -m bench.child NAME JSON_ARGS``.

Each measurement runs in a fresh process so its wall time includes its own
start-up (for embedpipe: the Spark session) and its peak memory is its own.
The last stdout line is a JSON object with the results.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children (the JVM), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024.0, 1)


def sentences(corpus: str, max_len: int):  # type: ignore[no-untyped-def]
    """Whitespace tokens of a text8-style corpus, cut into pieces of max_len (gensim's convention)."""
    import gzip

    opener = gzip.open if corpus.endswith(".gz") else open
    with opener(corpus, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for line in fh:
            words = line.split()
            for i in range(0, len(words), max_len):
                yield words[i : i + max_len]


def gensim_sgns(args: dict[str, Any]) -> dict[str, Any]:
    from gensim.models import Word2Vec

    from embedpipe.evaluate.scoring import score_vectors

    p = args["params"]
    t0 = time.perf_counter()
    corpus = list(sentences(args["corpus"], 10_000))
    model = Word2Vec(
        corpus,
        vector_size=p["dim"], window=p["window"], negative=p["negative"], sample=p["sample"],
        epochs=p["epochs"], alpha=p["alpha"], min_count=p["min_count"], sg=1, hs=0,
        workers=args["workers"], seed=args.get("seed", 1),
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    scores = score_vectors(model.wv.index_to_key, model.wv.vectors)
    return {"seconds": seconds, "words": model.corpus_total_words, "vocab": len(model.wv), "scores": scores}


def gensim_build_vocab(args: dict[str, Any]) -> dict[str, Any]:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    t0 = time.perf_counter()
    model = Word2Vec(min_count=args["min_count"])
    model.build_vocab(LineSentence(args["corpus"]))
    return {"seconds": time.perf_counter() - t0, "words": model.corpus_total_words, "vocab": len(model.wv)}


def mllib_word2vec(args: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    from embedpipe.config import SparkConfig
    from embedpipe.evaluate.scoring import score_vectors
    from embedpipe.session import build_local_session

    p = args["params"]
    spark = build_local_session(SparkConfig(master="local[2]", driver_memory="12g"))
    rows = [s for s in sentences(args["corpus"], 1000) if s]
    df = spark.createDataFrame(pa.table({"words": pa.array(rows, pa.list_(pa.string()))}).to_pandas())
    df = df.repartition(args["partitions"]).cache()
    n_words = df.selectExpr("sum(size(words))").first()[0]
    t0 = time.perf_counter()
    model = MLlibWord2Vec(
        vectorSize=p["dim"], windowSize=p["window"], minCount=p["min_count"], maxIter=args.get("iterations", 1),
        numPartitions=args["partitions"], stepSize=p["alpha"], seed=1, inputCol="words", maxSentenceLength=1000,
    ).fit(df)  # fmt: skip
    seconds = time.perf_counter() - t0
    vecs = model.getVectors().toPandas()
    counts = df.selectExpr("explode(words) as w").groupBy("w").count().toPandas().set_index("w")["count"]
    vecs["count"] = vecs["word"].map(counts)
    vecs = vecs.sort_values(["count", "word"], ascending=[False, True])
    matrix = np.array([np.asarray(v.toArray(), dtype=np.float32) for v in vecs["vector"]])
    scores = score_vectors(list(vecs["word"]), matrix)
    spark.stop()
    return {"seconds": seconds, "words": int(n_words), "vocab": len(vecs), "scores": scores}


def embedpipe_cli(args: dict[str, Any]) -> dict[str, Any]:
    """Run `embedpipe run` (a fresh JVM: start-up included in the wall time);
    ``force`` recomputes the listed stages even when they are up to date."""
    cmd = [sys.executable, "-m", "embedpipe.cli", "run", args["conf"], "--json", "-q"]
    for item in args["overrides"]:
        cmd += ["--set", item]
    if args.get("force"):
        cmd.append("--force")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"embedpipe failed ({done.returncode}):\n{done.stderr[-4000:]}")
    summary = json.loads(done.stdout)
    return {"seconds": seconds, "summary": summary}


def embedpipe_warm(args: dict[str, Any]) -> dict[str, Any]:
    """The same run in a session that has just run those stages on the shipped
    sample, so that Spark's and Delta's first-use costs (class loading, the
    JIT, the first Delta commit and read) are paid before the timer: what a
    long-lived session (a cluster, a notebook, Airflow's next task on a warm
    cluster) would see. The first run's time is returned too."""
    import tempfile

    from embedpipe.config import load_config
    from embedpipe.pipeline import run_pipeline
    from embedpipe.session import get_session

    cfg = load_config(args["conf"], args["overrides"])
    with tempfile.TemporaryDirectory() as warm_out:
        # The config's own input (the shipped sample) into a scratch folder.
        keep = [o for o in args["overrides"] if not o.startswith(("input.path=", "output.path="))]
        warm = load_config(
            args["conf"], [*keep, "input.path=embedpipe://demo/wiki_sample.txt.gz", f"output.path={warm_out}"]
        )
        spark = get_session(cfg.spark)
        warm_up = run_pipeline(spark, warm, force=True)
        t0 = time.perf_counter()
        summary = run_pipeline(spark, cfg, force=bool(args.get("force")))
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "summary": summary, "warm_up_seconds": warm_up["seconds"]}


MEASUREMENTS = {
    "gensim_sgns": gensim_sgns,
    "gensim_build_vocab": gensim_build_vocab,
    "mllib_word2vec": mllib_word2vec,
    "embedpipe": embedpipe_cli,
    "embedpipe_warm": embedpipe_warm,
}


def main() -> int:
    name, raw = sys.argv[1], sys.argv[2]
    result = MEASUREMENTS[name](json.loads(raw))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
