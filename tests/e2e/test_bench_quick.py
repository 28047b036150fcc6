"""`python -m bench.run --quick` as a smoke test: every peer runs and the report is written.

One partition count per multi-run family keeps it to about four minutes on 2
cores; the full harness (`make bench`) runs the same code paths with 1/2/8 and
1/2/4/8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bench.run as bench_run

REPO = Path(__file__).resolve().parents[2]


def test_quick_bench_measures_every_peer_and_writes_the_report(tmp_path):
    out = tmp_path / "bench"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out),
         "--mllib-partitions", "1", "--scaling-partitions", "1", "--glove-partitions", "2:rotation",
         "--sgns-setting", "1x2"],
        capture_output=True, text=True, cwd=REPO, env=env, stdin=subprocess.DEVNULL, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    rows = {r["name"].split(",")[0].split(" (")[0]: r for r in results["table"]}
    assert set(rows) == {"gensim sg", "embedpipe sgns", "embedpipe glove", "MLlib Word2Vec"}
    for name, r in rows.items():
        assert r["error"] is None, name
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 0, name
        # Scored by the same evaluator; the quick corpus is small, so only
        # "clearly learned something" is asserted (random vectors score about 0).
        assert r["wordsim353"] > 0.05, (name, r)
    assert rows["gensim sg"]["words_per_s"] > 0 and rows["embedpipe sgns"]["words_per_s"] > 0
    # --sgns-setting sets the whole-pipeline run's replicas and threads.
    assert rows["embedpipe sgns"]["name"].endswith(", 1 partitions x 2 threads")
    (scale,) = results["scaling"]
    assert scale["partitions"] == 1 and scale["words_per_s"] > 0 and scale["wordsim353"] > 0.05
    # Scaling rows time the sgns stage alone, so they train on the tables the
    # sgns run built instead of ingesting the corpus again.
    assert [st["stage"] for st in results["runs"]["scaling_1"]["summary"]["stages"]] == ["sgns", "evaluate"]
    assert [st["stage"] for st in results["runs"]["embedpipe_sgns"]["summary"]["stages"]][:3] == [
        "ingest",
        "vocab",
        "encode",
    ]

    # GloVe against replicas trains on the glove run's co-occurrence table.
    (g_scale,) = results["glove_scaling"]
    assert g_scale["partitions"] == 2 and g_scale["distribution"] == "rotation" and g_scale["wordsim353"] > 0.05
    assert g_scale["jobs_per_epoch"] > 0 and g_scale["moved_mb_per_epoch"] > 0
    glove_stages = results["runs"]["glove_scaling_2_rotation"]["summary"]["stages"]
    assert [(st["stage"], st["stats"]["distribution"]) for st in glove_stages[:1]] == [("glove", "rotation")]

    report = (out / "report.md").read_text()
    assert "| gensim sg, " in report and "time vs gensim" in report
    assert "## embedpipe sgns against partitions" in report
    assert "## embedpipe glove against partitions" in report and "| glove stage s |" in report
    assert (out / "scaling.png").stat().st_size > 0
    assert "| gensim sg" in done.stdout, "the table is printed too"


def test_kernel_bench_times_both_kernels_on_one_shared_vocabulary(tmp_path):
    """`python -m bench.kernel` on the shipped sample: both sides train the same
    in-vocabulary words, and the printed ratio is the one in its JSON."""
    sample = REPO / "embedpipe" / "data" / "demo" / "wiki_sample.txt.gz"
    out = tmp_path / "kernel.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.kernel", "--corpus", str(sample), "--words", "300000",
         "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["raw_words"] == 300000 and 0 < r["in_vocab_words"] < r["raw_words"]
    assert r["gensim_words_per_s"] > 0 and r["embedpipe_words_per_s"] > 0
    assert f"speed per core: {r['speed_vs_gensim']:.2f}x" in done.stdout


def test_seed_means_average_every_figure_and_a_failed_seed_fails_the_mean():
    seeds = [
        {"name": "a", "seconds": 100.0, "words_per_s": 1000, "peak_rss_mb": 10.0,
         "analogy": 0.30, "wordsim353": 0.60, "simlex999": 0.30, "error": None},
        {"name": "b", "seconds": 110.0, "words_per_s": 1101, "peak_rss_mb": 20.0,
         "analogy": 0.32, "wordsim353": 0.66, "simlex999": 0.33, "error": None},
    ]  # fmt: skip
    mean = bench_run.mean_row("mean", seeds)
    assert mean == {
        "name": "mean", "error": None, "seeds": 2, "seconds": 105.0, "words_per_s": 1050, "peak_rss_mb": 15.0,
        "analogy": 0.31, "wordsim353": 0.63, "simlex999": 0.315,
    }  # fmt: skip
    failed = bench_run.mean_row("mean", [seeds[0], {**seeds[1], "error": "boom", "analogy": None}])
    assert failed["error"] == "boom" and failed["analogy"] is None and failed["seconds"] is None


def test_the_bars_hold_only_within_the_allowed_distance_under_gensim():
    gensim = {"analogy": 0.356, "wordsim353": 0.665, "simlex999": 0.312}
    ours = {"analogy": 0.347, "wordsim353": 0.644, "simlex999": 0.330}
    checks = {c["metric"]: c for c in bench_run.bar_checks(ours, gensim, bench_run.SGNS_BARS[2])}
    assert checks["analogy"]["diff"] == -0.009 and checks["analogy"]["holds"]
    assert checks["wordsim353"]["diff"] == -0.021 and not checks["wordsim353"]["holds"]
    assert checks["simlex999"]["holds"], "scoring above gensim always holds"
    assert all(c["holds"] for c in bench_run.bar_checks(ours, gensim, bench_run.SGNS_BARS[8]))
    assert not bench_run.bar_checks({**ours, "analogy": None}, gensim, bench_run.SGNS_BARS[8])[0]["holds"]
    table = bench_run.bars_table({"2 partitions": list(checks.values())})
    assert "| 2 partitions | wordsim353 | -0.021 | -0.020 | **no** |" in table


def test_the_exactness_bench_times_cold_and_warm_runs_against_build_vocab(tmp_path):
    corpus = bench_run.text8_sample(tmp_path)  # text8 form: a whitespace count is the reference
    out = tmp_path / "exact"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-m", "bench.exactness", "--corpus", str(corpus), "--stages", "ingest,vocab,encode",
         "--warm", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, env=env, stdin=subprocess.DEVNULL, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "exactness.json").read_text())
    assert report["vocab"]["differences"] == 0 and report["vocab"]["ours"] > 1000
    assert report["gensim_build_vocab"]["vocab"] == report["vocab"]["ours"]
    assert set(report["warm"]["stages"]) == {"ingest", "vocab", "encode"} and report["warm"]["warm_up_seconds"] > 0
    # Four readings of the same runs: fresh or warmed session, with or without the encoding.
    for session in ("", "warm_"):
        encoded = report[f"{session}ingest_vocab_encode_vs_gensim_build_vocab"]
        assert 0 < report[f"{session}ingest_vocab_vs_gensim_build_vocab"] < encoded
    fresh = report["ingest_vocab_vs_gensim_build_vocab"]
    fresh_encoded = report["ingest_vocab_encode_vs_gensim_build_vocab"]
    assert f"fresh session{'':<17}{fresh:>14.2f}x{fresh_encoded:>10.2f}x" in done.stdout


def test_scaling_runs_name_replicas_cores_and_distribution():
    assert bench_run.scaling_spec("8") == (8, 1, "averaging")
    assert bench_run.scaling_spec("1x2") == (1, 2, "averaging")
    assert bench_run.scaling_spec("32:rotation") == (32, 1, "rotation")
    with pytest.raises(SystemExit, match="unknown distribution 'rotate'"):
        bench_run.scaling_spec("8:rotate")


def test_the_glove_scaling_bar_is_a_distance_from_one_replica_either_way():
    one = {"name": "1", "partitions": 1, "analogy": 0.300, "wordsim353": 0.440, "simlex999": 0.210}
    runs = [
        one,
        {"name": "8", "partitions": 8, "analogy": 0.304, "wordsim353": 0.428, "simlex999": 0.219},
        {"name": "32", "partitions": 32, "analogy": 0.294, "wordsim353": None, "simlex999": 0.200},
    ]
    table = bench_run.glove_bar_table(runs, one)
    assert "| 8 | analogy | +0.0040 | ±0.005 | yes |" in table
    assert "| 8 | wordsim353 | -0.0120 | ±0.010 | **no** |" in table
    assert "| 8 | simlex999 | +0.0090 | ±0.010 | yes |" in table
    assert "| 32 | analogy | -0.0060 | ±0.005 | **no** |" in table
    assert "| 32 | wordsim353 | — | ±0.010 | **no** |" in table, "a missing score never holds"
    assert "| 1 |" not in table


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_the_ann_bench_times_every_reading_of_the_same_batch_and_measures_recall(kind):
    """`bench.ann.measure` on planted clusters: every series timed, its speed-ups derived, recall measured."""
    pytest.importorskip("faiss")
    import numpy as np

    from bench import ann
    from embedpipe import Vectors

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(200, 16))
    matrix = (centres[rng.integers(0, 200, size=2000)] + 0.1 * rng.normal(size=(2000, 16))).astype(np.float32)
    vec = Vectors.from_arrays([f"w{i}" for i in range(2000)], matrix)
    rows = np.sort(rng.choice(2000, size=300, replace=False))
    res = ann.measure(vec, [vec.words[r] for r in rows], rows, loop_words=20, repeats=2, pause=0.0, kind=kind)
    assert res["kind"] == kind and res["index"]["kind"].startswith({"hnsw": "HNSW", "ivf": "inverted file"}[kind])
    series_timed = ("exact_batch", "index_batch", "exact_frame", "index_frame", "exact_arrays", "index_arrays",
                    "faiss_flat")  # fmt: skip
    for series in series_timed:
        assert len(res[f"{series}_all_s"]) == 2 and res[f"{series}_s"] == min(res[f"{series}_all_s"]) > 0
    readings = ("vs_exact_batch", "frame", "arrays", "arrays_after_brute_force", "arrays_warm", "arrays_vs_faiss_flat")
    for reading in readings:
        per_repeat = res[f"speedup_{reading}_per_repeat"]  # the median of the repeats' ratios
        assert len(per_repeat) == 2 and res[f"speedup_{reading}"] == pytest.approx(np.median(per_repeat), abs=0.01)
    assert res["recall@10"] == res["recall@10_arrays"] >= 0.95  # lists and arrays hold the same answers
    breadth, ladder = ("ef_search", ann.EF_LADDER) if kind == "hnsw" else ("probes", ann.PROBE_LADDER)
    assert [p[breadth] for p in res["frontier"]] == [e for e in ladder if e <= 128]
