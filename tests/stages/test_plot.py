"""``embedpipe plot`` on a small vectors table (real Spark and Delta): its files, the clusters table, its errors.

The model has 300 words of dim 16 around 5 planted directions, so a right
clustering is known; the map places the 200 most frequent with few t-SNE
iterations.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from embedpipe import Vectors
from embedpipe.cli import main
from embedpipe.config import load_config
from embedpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
N, DIM, K, ON_MAP, CENTRAL = 300, 16, 5, 200, 4
SMALL = ["--set", f"plot.words={ON_MAP}", "--set", f"plot.clusters={K}", "--set", "plot.iterations=50",
         "--set", "plot.perplexity=10", "--set", f"plot.central={CENTRAL}"]  # fmt: skip


def _model() -> tuple[Vectors, np.ndarray]:
    """300 words near 5 random directions (the planted clusters), most frequent first."""
    rng = np.random.default_rng(31)
    directions = rng.normal(size=(K, DIM))
    planted = rng.permutation(np.arange(N) % K)
    matrix = directions[planted] + 0.15 * rng.normal(size=(N, DIM))
    words = [f"w{i}" for i in range(N)]
    return Vectors.from_arrays(words, matrix.astype(np.float32), counts=np.arange(N, 0, -1), model="sgns"), planted


def _plot(root: str, out: str, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["plot", DEMO, "--model", "sgns", "--out", out, "--set", f"output.path={root}", "-q", *SMALL,
                     *extra])  # fmt: skip
    return code, stdout.getvalue(), stderr.getvalue()


def _clusters(spark, root: str) -> list[tuple]:
    from embedpipe import tables

    df = tables.read(spark, root, "clusters").filter("model = 'sgns'")
    return sorted(tuple(r) for r in df.select("model", "run_id", "word", "id", "cluster").collect())


@pytest.fixture(scope="module")
def plotted(spark, tmp_path_factory):
    """One `embedpipe plot ... --json` run: its stats, files and the clusters table's rows."""
    from embedpipe.vectors import write_vectors

    vec, planted = _model()
    base = tmp_path_factory.mktemp("plot")
    root, out = str(base / "out"), str(base / "maps")
    write_vectors(spark, root, model="sgns", run_id="run-1", words=vec.words, counts=vec.counts, matrix=vec.matrix,
                  metadata={"config": {}})  # fmt: skip
    code, stdout, stderr = _plot(root, out, "--json")
    assert code == 0, stderr
    return {"root": root, "out": out, "vec": vec, "planted": planted, "stats": json.loads(stdout)["stats"],
            "rows": _clusters(spark, root)}  # fmt: skip


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of each <title> inside a <circle>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.point_labels: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag):
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data):
        if self._open[-2:] == ["circle", "title"]:
            self.point_labels.append(data)


def test_the_html_loads_nothing_and_labels_every_plotted_word(plotted):
    page = Path(plotted["stats"]["files"]["html"]).read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    # Nothing reaches the network: no address anywhere, no tag that fetches, no attribute that points out.
    for needle in ("http://", "https://", "//cdn", "url(", "@import"):
        assert needle not in page, needle
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"link", "img", "iframe", "object", "embed", "base", "image", "use"}, tags
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "data"):
            assert name not in attrs, (tag, name, attrs[name])
    assert ("script", {}) in parsed.tags, "the hover label is inline script"
    # Each plotted word, the 200 most frequent, is a point whose hover label is the word.
    assert sorted(parsed.point_labels) == sorted(plotted["vec"].words[:ON_MAP])


def test_the_png_is_a_png_image(plotted):
    data = Path(plotted["stats"]["files"]["png"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the IHDR chunk
    assert width >= 800 and height >= 600 and len(data) > 10_000


def test_the_clusters_table_has_a_row_per_word_in_the_documented_schema(spark, plotted):
    from embedpipe import tables

    df = tables.read(spark, plotted["root"], "clusters")
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("model", "string"), ("run_id", "string"), ("word", "string"), ("id", "int"), ("cluster", "int"),
    ]  # fmt: skip
    rows = plotted["rows"]
    vec = plotted["vec"]
    assert len(rows) == N
    assert {(word, i) for _, _, word, i, _ in rows} == {(w, i) for i, w in enumerate(vec.words)}
    assert {run for _, run, _, _, _ in rows} == {"run-1"}, "run_id is the clustered vectors' run"
    # The planted clusters are found, numbered by size (largest first).
    found = {i: c for _, _, _, i, c in rows}
    pairs = {(int(plotted["planted"][i]), c) for i, c in found.items()}
    assert len(pairs) == K and {c for _, c in pairs} == set(range(K)), f"planted -> found: {sorted(pairs)}"
    sizes = np.bincount(list(found.values()))
    assert list(sizes) == sorted(sizes, reverse=True)
    # The map is coloured by the same clusters, and the files list them.
    st = plotted["stats"]
    assert [c["size"] for c in st["clusters"]] == list(sizes)
    assert [c["on_map"] for c in st["clusters"]] == list(np.bincount([found[i] for i in range(ON_MAP)], minlength=K))
    listed = json.loads(Path(st["files"]["json"]).read_text(encoding="utf-8"))
    assert listed["clusters"] == st["clusters"]
    md = Path(st["files"]["md"]).read_text(encoding="utf-8")
    assert all(f"| {c['cluster']} | {c['size']} | {c['on_map']} | {c['central'][0][0]} (" in md for c in st["clusters"])


def test_central_words_are_the_members_nearest_their_centroid(plotted):
    """The centroid is the unit mean of the cluster's unit vectors, as the clusters table assigns them."""
    vec = plotted["vec"]
    unit = vec.matrix.astype(np.float64) / np.linalg.norm(vec.matrix.astype(np.float64), axis=1, keepdims=True)
    label = np.array([c for *_, c in sorted(plotted["rows"], key=lambda r: r[3])])
    for c in plotted["stats"]["clusters"]:
        members = np.flatnonzero(label == c["cluster"])
        centre = unit[members].sum(axis=0)
        centre /= np.linalg.norm(centre)
        for key, among in (("central", members), ("central_on_map", members[members < ON_MAP])):
            cos = unit[among] @ centre
            order = np.argsort(-cos, kind="stable")[:CENTRAL]
            assert [w for w, _ in c[key]] == [vec.words[i] for i in among[order]], key
            assert [s for _, s in c[key]] == pytest.approx(cos[order].tolist(), abs=1e-5), key


def test_the_same_seed_gives_the_same_clusters(spark, plotted, tmp_path):
    code, out, err = _plot(plotted["root"], str(tmp_path / "again"))
    assert code == 0, err
    assert _clusters(spark, plotted["root"]) == plotted["rows"]
    again = json.loads((tmp_path / "again" / "sgns-clusters.json").read_text(encoding="utf-8"))
    assert again["clusters"] == plotted["stats"]["clusters"]
    # The readable report: the clusters, the files and the time each step took.
    lines = out.splitlines()
    assert lines[0].startswith(f"map of sgns (run run-1; {N} words, dim {DIM}): the {ON_MAP} most frequent by t-SNE")
    assert lines[2].startswith("cluster  words  on map  most central words")
    assert [line.split()[0] for line in lines[3 : 3 + 2 * K]] == [x for c in range(K) for x in (str(c), "map:")]
    assert f"wrote {N} rows to {plotted['root']}/clusters" in out
    assert lines[-1].startswith("time: read ") and "k-means" in lines[-1] and "t-SNE" in lines[-1]


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"plot\.words \(10\) must be at least plot\.clusters \(20\).*lower plot"):
        load_config(DEMO, ["plot.words=10"])
    with pytest.raises(ConfigError, match=r"plot\.perplexity \(30\) must be below plot\.words / 3"):
        load_config(DEMO, ["plot.words=60", "plot.clusters=5"])
    with pytest.raises(ConfigError, match=r"plot\.clusters must be in 2\.\.1000, got 1"):
        load_config(DEMO, ["plot.clusters=1"])
    with pytest.raises(ConfigError, match=r"unknown config key plot\.colours"):
        load_config(DEMO, ["plot.colours=5"])


def test_bad_input_fails_before_spark_starts(plotted, tmp_path):
    """Each case exits 2 with one line naming the fix, and no JVM (pyspark is never imported)."""
    root = plotted["root"]
    cases = [
        (["--model", "nope", "--out", str(tmp_path)], "no vectors for model 'nope'", "models present: ['sgns']"),
        (["--model", "sgns@run-9", "--out", str(tmp_path)], "no run 'run-9' of model 'sgns'", "runs present"),
        (["--model", "sgns"], "give a folder with --out DIR", ""),
        (["--model", "sgns", "--out", "s3a://bucket/maps"], "not a local folder", "give a local --out DIR"),
        (["--model", "sgns", "--out", str(tmp_path), "--set", "plot.clusters=400", "--set", "plot.words=1200"],
         "has 300 words with a nonzero vector, fewer than plot.clusters=400", "lower plot.clusters"),
    ]  # fmt: skip
    script = (
        "import json, sys; from embedpipe.cli import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    print('EXIT', main(args), file=sys.stderr, flush=True)\n"
        "print('PYSPARK', 'pyspark' in sys.modules, file=sys.stderr)\n"
    )
    argv = [["plot", DEMO, "--set", f"output.path={root}", *args] for args, *_ in cases]
    done = subprocess.run([sys.executable, "-c", script, json.dumps(argv)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("embedpipe: ")]
    assert done.stderr.count("EXIT 2") == len(cases) and len(errors) == len(cases), done.stderr
    for (_, what, fix), line in zip(cases, errors, strict=True):
        assert what in line and fix in line, line
    assert "PYSPARK False" in done.stderr


def test_a_missing_plot_package_names_the_extra_to_install(monkeypatch):
    from embedpipe.errors import PlotDependencyError
    from embedpipe.maps import require_dependencies

    monkeypatch.setitem(sys.modules, "openTSNE", None)  # `import openTSNE` now fails as when it is not installed
    with pytest.raises(PlotDependencyError, match=r"pip install embedpipe\[plot\] \(missing: openTSNE\)"):
        require_dependencies()
