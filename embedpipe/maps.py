"""``embedpipe plot``: a map of a model's space, coloured by k-means clusters.

``embedpipe plot CONF [--model MODEL[@RUN]] --out DIR``

1. **Clusters**: Spark ML's k-means with cosine distance (``plot.clusters``
   clusters, seeded by ``plot.seed``) over *all* the model's words, written
   to the ``clusters`` table under ``output.path`` (``model, run_id, word,
   id, cluster``; run_id is the clustered vectors' run). Clusters are
   numbered by size, largest first.
2. **Central words**: each cluster's centroid is the unit-length mean of
   its members' unit vectors (:mod:`embedpipe.kernels.clusters`), and its
   ``plot.central`` members of highest cosine with it are listed: among all
   its words, and among its words on the map. The second list names the
   cluster on the map: rare words are most of a vocabulary, and of most
   clusters' most central words.
3. **The map**: t-SNE (openTSNE, cosine, seeded, ``plot.perplexity``,
   ``plot.iterations``) of the ``plot.words`` most frequent words, each
   coloured by its cluster.
4. **Files**, in the local folder ``--out`` (``plot.out``), named after the
   model: ``<model>-map.png``; ``<model>-map.html``, one page with the map
   as inline SVG and a word label on hover, which loads nothing from the
   network; ``<model>-clusters.json`` and ``<model>-clusters.md``, each
   cluster with its size and most central words.

Why one Spark fit over all words, and not scikit-learn on the map's words:
the map's colours are then the ``clusters`` table's rows, so a word has one
cluster wherever it is read, and the fit runs on the executors whatever the
vocabulary's size. It is reproducible: the words reach k-means in the same
partitions (by id, ``spark.partitions`` of them) and the same order on every
run, and Spark seeds k-means|| from the seed and the partition.

The model is read on the driver (through delta-rs where it reads
``output.path``), as align and bias read theirs; Spark starts for the
k-means and the table. The PNG and HTML are driver-side files: ``plot.out``
is a local folder, never under ``output.path``, which only Spark writes.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from embedpipe import paths
from embedpipe.config import PipelineConfig
from embedpipe.errors import ConfigError, InputError, PlotDependencyError
from embedpipe.kernels.clusters import central_rows, centroids
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors.keyed import Vectors
from embedpipe.vectors.models import ModelRef, load_model, parse_ref

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["Prepared", "cluster_words", "format_report", "map_words", "output_files", "prepare", "run"]

log = logging.getLogger(__name__)

_INSTALL_HINT = "embedpipe plot needs matplotlib, openTSNE and scikit-learn: pip install embedpipe[plot]"
# Spark ML's default; k-means on word vectors moves little after it.
_KMEANS_ITERATIONS = 20
# Central words written on the map for each cluster.
_LABELLED = 3
# The HTML map's size in SVG units (it scales with the page).
_SVG_W, _SVG_H, _SVG_PAD = 1000, 760, 20


def require_dependencies() -> None:
    """Fail with :class:`PlotDependencyError` naming the fix when a plotting package is missing."""
    missing = []
    for module in ("matplotlib", "openTSNE", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise PlotDependencyError(f"{_INSTALL_HINT} (missing: {', '.join(missing)})")


def output_files(folder: str, model: str) -> dict[str, str]:
    """The files ``embedpipe plot`` writes for ``model`` in the local ``folder``."""
    return {
        "png": os.path.join(folder, f"{model}-map.png"),
        "html": os.path.join(folder, f"{model}-map.html"),
        "json": os.path.join(folder, f"{model}-clusters.json"),
        "md": os.path.join(folder, f"{model}-clusters.md"),
    }


@dataclass
class Prepared:
    """What :func:`prepare` read and checked before Spark starts."""

    ref: ModelRef
    vec: Vectors
    folder: str
    read_seconds: float
    nonzero: np.ndarray = field(repr=False)  # rows with a vector cosine can place


def _local_folder(out: str) -> str:
    if not out:
        raise ConfigError("embedpipe plot writes local files: give a folder with --out DIR (or plot.out)")
    local = paths.local_path(out)
    if local is None:
        raise ConfigError(
            f"plot.out {out!r} is not a local folder; the PNG and HTML are written on the driver "
            "(the clusters table goes under output.path): give a local --out DIR"
        )
    if os.path.exists(local) and not os.path.isdir(local):
        raise ConfigError(f"plot.out {out!r} is a file; give a folder")
    return local


def prepare(cfg: PipelineConfig, model: str | None, spark: Callable[[], SparkSession]) -> Prepared:
    """Check the settings and packages and read the model: everything before Spark starts.

    Raises
    ------
    ConfigError
        A bad model reference, or no local output folder.
    PlotDependencyError
        matplotlib, openTSNE or scikit-learn is missing.
    TableError
        No such model or run.
    InputError
        The model has fewer words than ``plot.clusters``.
    """
    ref = parse_ref(model or cfg.plot.model)
    folder = _local_folder(cfg.plot.out)
    require_dependencies()
    t0 = time.perf_counter()
    vec = load_model(cfg.output.path, ref, spark)
    nonzero = np.linalg.norm(vec.matrix, axis=1) > 0
    k, n = cfg.plot.clusters, int(nonzero.sum())
    if n < k:
        raise InputError(
            f"{ref} has {n} words with a nonzero vector, fewer than plot.clusters={k}; "
            f"lower plot.clusters (e.g. --set plot.clusters={max(2, n // 10)})"
        )
    log.info("plot: %s (%d words, dim %d), read in %.1f s", ref, len(vec), vec.dim, time.perf_counter() - t0)
    return Prepared(ref, vec, folder, time.perf_counter() - t0, nonzero)


def _ids(vec: Vectors) -> np.ndarray:
    return np.arange(len(vec), dtype=np.int32) if vec.ids is None else np.asarray(vec.ids, dtype=np.int32)


def cluster_words(
    spark: SparkSession, vec: Vectors, *, k: int, seed: int, partitions: int, nonzero: np.ndarray | None = None
) -> np.ndarray:
    """Each word's cluster by Spark ML's cosine k-means over all words, numbered by size.

    Parameters
    ----------
    spark : SparkSession
    vec : Vectors
    k : int
        Clusters asked for; k-means may find fewer distinct ones.
    seed : int
    partitions : int
        Partitions the words are fitted in: with the seed, they fix the result.
    nonzero : numpy.ndarray, optional
        Rows to cluster (default: those with a nonzero vector); the others get ``-1``.

    Returns
    -------
    numpy.ndarray
        ``(len(vec),)`` int32 cluster of each row, ``0`` the largest cluster, ``-1`` none.
    """
    import pyarrow as pa
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    if nonzero is None:
        nonzero = np.linalg.norm(vec.matrix, axis=1) > 0
    rows = np.flatnonzero(nonzero)
    unit = np.ascontiguousarray(vec.unit()[rows])
    n, dim = unit.shape
    offsets = np.arange(0, n * dim + 1, dim, dtype=np.int32)
    table = pa.table(
        {
            "row": pa.array(rows.astype(np.int32)),
            "vector": pa.ListArray.from_arrays(pa.array(offsets), pa.array(unit.reshape(-1), pa.float32())),
        }
    )
    # The same rows in the same partitions and order on every run: k-means|| samples each
    # partition with a generator seeded by (seed, partition), so this fixes its start.
    words = (
        spark.createDataFrame(table)
        .repartition(partitions, F.col("row") % partitions)
        .sortWithinPartitions("row")
        .select("row", array_to_vector(F.col("vector")).alias("features"))
        .cache()
    )
    try:
        km = KMeans(
            k=k, seed=seed, distanceMeasure="cosine", maxIter=_KMEANS_ITERATIONS, featuresCol="features",
            predictionCol="cluster",
        )  # fmt: skip
        fitted = km.fit(words)
        got = fitted.transform(words).select("row", "cluster").toArrow()
    finally:
        words.unpersist()
    raw = np.full(len(vec), -1, dtype=np.int64)
    raw[got.column("row").to_numpy()] = got.column("cluster").to_numpy()
    return _by_size(raw)


def _by_size(raw: np.ndarray) -> np.ndarray:
    """Clusters renumbered 0.. by decreasing size (ties: the one holding the more frequent word first)."""
    member = raw >= 0
    found, first, size = np.unique(raw[member], return_index=True, return_counts=True)
    first = np.flatnonzero(member)[first]
    order = np.lexsort((first, -size))
    new = np.empty(int(found.max()) + 1 if found.size else 0, dtype=np.int32)
    new[found[order]] = np.arange(len(found), dtype=np.int32)
    out = np.full(raw.shape, -1, dtype=np.int32)
    out[member] = new[raw[member]]
    return out


def _write_table(spark: SparkSession, root: str, vec: Vectors, model: str, labels: np.ndarray, meta: dict) -> None:
    import pyarrow as pa

    from embedpipe import tables

    n = len(vec)
    table = pa.table(
        {
            "model": pa.array([model] * n, pa.string()),
            "run_id": pa.array([vec.run_id] * n, pa.string()),
            "word": pa.array(vec.words, pa.string()),
            "id": pa.array(_ids(vec)),
            "cluster": pa.array(labels, pa.int32(), mask=labels < 0),
        }
    )
    df = spark.createDataFrame(table)
    tables.write(df, root, "clusters", metadata=meta, replace_where=f"model = '{model}'", partition_by=["model"])


def map_words(unit: np.ndarray, *, perplexity: float, iterations: int, seed: int) -> np.ndarray:
    """2-D t-SNE coordinates of unit rows (openTSNE, cosine, PCA start, seeded), ``(n, 2)`` float64."""
    try:
        from openTSNE import TSNE
    except ImportError as e:
        raise PlotDependencyError(f"{_INSTALL_HINT} ({e})") from e
    n = unit.shape[0]
    # openTSNE needs about 3 x perplexity neighbours per word; a small model lowers it.
    usable = min(perplexity, max((n - 1) / 3, 1.0))
    if usable < perplexity:
        log.warning("plot: %d words on the map; perplexity %.4g lowered to %.4g", n, perplexity, usable)
    # One thread: the same seed then gives the same map (threads add the gradient's terms in any order).
    tsne = TSNE(
        n_components=2, perplexity=usable, n_iter=iterations, metric="cosine", initialization="pca",
        random_state=seed, n_jobs=1, verbose=False,
    )  # fmt: skip
    return np.asarray(tsne.fit(np.asarray(unit, dtype=np.float64)), dtype=np.float64)


def _colours(k: int) -> list[str]:
    """``k`` distinct colours as ``#rrggbb``: tab10/tab20 when they suffice, else evenly spaced hues."""
    import matplotlib
    from matplotlib.colors import to_hex

    if k <= 10:
        cols = matplotlib.colormaps["tab10"].colors  # type: ignore[attr-defined]
    elif k <= 20:
        # tab20 pairs a dark and a light shade of each hue: all the dark ones first, so that
        # neighbouring clusters differ in hue.
        tab20 = matplotlib.colormaps["tab20"].colors  # type: ignore[attr-defined]
        cols = [*tab20[0::2], *tab20[1::2]]
    else:
        cmap = matplotlib.colormaps["hsv"]
        cols = [cmap(i / k) for i in range(k)]
    return [to_hex(c) for c in cols[:k]]


def _draw_png(path: str, title: str, words: list[str], xy: np.ndarray, labels: np.ndarray, info: list[dict],
              colours: list[str]) -> None:  # fmt: skip
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Drawn on an Agg canvas directly (no pyplot): the backend of a notebook is left alone.
    # The map keeps t-SNE's aspect (one scale on both axes); the figure is as tall as the map needs.
    span = np.ptp(xy, axis=0) if len(xy) else np.ones(2)
    height = float(np.clip(9.1 * span[1] / max(span[0], 1e-12), 6.0, 12.0)) + 1.0
    fig = Figure(figsize=(13, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.3 / height, 0.70, (height - 1.0) / height))
    ax.scatter(xy[:, 0], xy[:, 1], c=[colours[c] for c in labels], s=9, linewidths=0, alpha=0.8)
    where = {w: i for i, w in enumerate(words)}
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # legible over other clusters' points
    for c in info:
        for w, _ in c["central_on_map"][:_LABELLED]:
            i = where[w]
            ax.annotate(w, tuple(xy[i]), xytext=(2, 2), textcoords="offset points", fontsize=8,
                        color=colours[c["cluster"]], fontweight="bold", path_effects=halo)  # fmt: skip
    ax.set_aspect("equal", adjustable="box")  # t-SNE's two axes share one scale
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10, loc="left", wrap=True)
    lines = [f"{c['cluster']}: {', '.join(w for w, _ in c['central_on_map'][:4])}" for c in info]
    handles = [
        ax.scatter([], [], color=colours[c["cluster"]], s=30, label=text) for c, text in zip(info, lines, strict=True)
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.73, 1 - 0.7 / height), fontsize=7.5, frameon=False,
               title="cluster: most central words on the map", title_fontsize=8.5, labelspacing=0.6)  # fmt: skip
    fig.savefig(path, dpi=110, format="png")


def _html_page(title: str, words: list[str], xy: np.ndarray, labels: np.ndarray, info: list[dict],
               colours: list[str]) -> str:  # fmt: skip
    """One page that loads nothing: the map as inline SVG, each point's ``<title>`` its word, inline CSS and JS."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    inner = np.array([_SVG_W - 2 * _SVG_PAD, _SVG_H - 2 * _SVG_PAD], dtype=np.float64)
    scale = float(np.min(inner / span))  # one scale for both axes keeps t-SNE's distances
    slack = (inner - span * scale) / 2  # centred along the axis with room to spare
    px = _SVG_PAD + slack[0] + (xy[:, 0] - lo[0]) * scale
    py = _SVG_H - _SVG_PAD - slack[1] - (xy[:, 1] - lo[1]) * scale  # SVG's y points down
    e = html.escape
    points, names = [], []
    where = {w: i for i, w in enumerate(words)}
    for i, w in enumerate(words):
        label = int(labels[i])
        points.append(
            f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="3" fill="{colours[label]}" data-c="{label}">'
            f"<title>{e(w)}</title></circle>"
        )
    for c in info:
        for w, _ in c["central_on_map"][:_LABELLED]:
            i = where[w]
            names.append(
                f'<text x="{px[i] + 4:.1f}" y="{py[i] - 4:.1f}" fill="{colours[c["cluster"]]}" '
                f'data-c="{c["cluster"]}">{e(w)}</text>'
            )
    legend = "\n".join(
        f'<li data-c="{c["cluster"]}"><span class="dot" style="background:{colours[c["cluster"]]}"></span>'
        f"<b>{c['cluster']}</b> ({c['size']} words, {c['on_map']} on the map): "
        f"{e(', '.join(w for w, _ in c['central_on_map']))}<br><small>of all its words: "
        f"{e(', '.join(w for w, _ in c['central']))}</small></li>"
        for c in info
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1em 2em; color: #222; }}
.wrap {{ display: flex; gap: 2em; align-items: flex-start; }}
svg {{ width: 62vw; max-width: {_SVG_W}px; height: auto; border: 1px solid #ddd; background: #fff; }}
svg circle {{ opacity: .8; }}
svg text {{ font-size: 11px; font-weight: 600; pointer-events: none; paint-order: stroke; stroke: #fff;
  stroke-width: 3px; }}
svg.focus circle:not(.on), svg.focus text:not(.on) {{ opacity: .08; }}
ul {{ list-style: none; padding: 0; margin: 0; max-width: 30em; }}
li {{ margin: .35em 0; cursor: default; }}
.dot {{ display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .4em; }}
#label {{ position: fixed; pointer-events: none; background: #222; color: #fff; padding: 2px 6px;
  border-radius: 3px; font-size: 13px; display: none; }}
</style>
</head>
<body>
<h1>{e(title)}</h1>
<p>Hover a point for its word; hover a cluster in the list to pick out its words.</p>
<div class="wrap">
<svg id="map" viewBox="0 0 {_SVG_W} {_SVG_H}" role="img" aria-label="{e(title)}">
{chr(10).join(points)}
{chr(10).join(names)}
</svg>
<ul id="clusters">
{legend}
</ul>
</div>
<div id="label"></div>
<script>
(function () {{
  var map = document.getElementById("map"), label = document.getElementById("label");
  map.addEventListener("mousemove", function (ev) {{
    var t = ev.target;
    if (t.tagName !== "circle") {{ label.style.display = "none"; return; }}
    label.textContent = t.textContent + "  (cluster " + t.getAttribute("data-c") + ")";
    label.style.left = (ev.clientX + 12) + "px";
    label.style.top = (ev.clientY + 12) + "px";
    label.style.display = "block";
  }});
  map.addEventListener("mouseleave", function () {{ label.style.display = "none"; }});
  document.querySelectorAll("#clusters li").forEach(function (li) {{
    var c = li.getAttribute("data-c");
    li.addEventListener("mouseenter", function () {{
      map.classList.add("focus");
      map.querySelectorAll("[data-c='" + c + "']").forEach(function (p) {{ p.classList.add("on"); }});
    }});
    li.addEventListener("mouseleave", function () {{
      map.classList.remove("focus");
      map.querySelectorAll(".on").forEach(function (p) {{ p.classList.remove("on"); }});
    }});
  }});
}})();
</script>
</body>
</html>
"""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(title: str, info: list[dict]) -> str:
    lines = [f"# {title}", "", "Most central words: highest cosine with the cluster's centroid.", "",
             "| cluster | words | on the map | most central words | most central words on the map |",
             "|---:|---:|---:|---|---|"]  # fmt: skip
    for c in info:
        central, on_map = (", ".join(f"{_md_cell(w)} ({cos:.2f})" for w, cos in c[key])
                           for key in ("central", "central_on_map"))  # fmt: skip
        lines.append(f"| {c['cluster']} | {c['size']} | {c['on_map']} | {central} | {on_map} |")
    return "\n".join(lines) + "\n"


def run(
    spark: SparkSession, cfg: PipelineConfig, *, model: str | None = None, prepared: Prepared | None = None
) -> StageResult:
    """Cluster ``model``'s words into the ``clusters`` table, map its frequent words, and write the files.

    ``prepared`` is :func:`prepare`'s result when the caller already has it
    (the CLI reads the model before it starts Spark).
    """
    t0 = time.perf_counter()
    p = prepared or prepare(cfg, model, lambda: spark)
    before = p.read_seconds if prepared is not None else 0.0  # time spent before this call
    pc, vec, ref = cfg.plot, p.vec, p.ref
    seconds: dict[str, float] = {"read": p.read_seconds}

    tic = time.perf_counter()
    log.info("plot: k-means (Spark ML, cosine) of %d words into %d clusters", int(p.nonzero.sum()), pc.clusters)
    labels = cluster_words(spark, vec, k=pc.clusters, seed=pc.seed, partitions=cfg.spark.partitions,
                           nonzero=p.nonzero)  # fmt: skip
    seconds["k-means"] = time.perf_counter() - tic
    run_id = new_run_id()
    tic = time.perf_counter()
    found = int(labels.max()) + 1
    meta = {"stage": "plot", "run_id": run_id, "model": ref.model, "model_run_id": vec.run_id,
            "clusters": found, "config": {"plot": cfg.to_dict()["plot"]}}  # fmt: skip
    _write_table(spark, cfg.output.path, vec, ref.model, labels, meta)
    seconds["table"] = time.perf_counter() - tic

    unit = vec.unit()
    centres = centroids(unit, labels, found)
    on_map = np.flatnonzero(p.nonzero)[: pc.words]  # the most frequent words: rows are in frequency order
    sizes = np.bincount(labels[labels >= 0], minlength=found)
    shown = np.bincount(labels[on_map], minlength=found)
    mapped = np.full_like(labels, -1)
    mapped[on_map] = labels[on_map]

    def listed(c: int, rows: np.ndarray) -> list[tuple[str, float]]:
        return [(vec.words[r], float(unit[r].astype(np.float64) @ centres[c])) for r in rows.tolist()]

    info = [
        {"cluster": c, "size": int(sizes[c]), "on_map": int(shown[c]), "central": listed(c, everywhere),
         "central_on_map": listed(c, there)}
        for c, (everywhere, there) in enumerate(
            zip(central_rows(unit, labels, centres, pc.central), central_rows(unit, mapped, centres, pc.central),
                strict=True)
        )
    ]  # fmt: skip

    tic = time.perf_counter()
    log.info("plot: t-SNE of the %d most frequent words", len(on_map))
    xy = map_words(unit[on_map], perplexity=pc.perplexity, iterations=pc.iterations, seed=pc.seed)
    seconds["t-SNE"] = time.perf_counter() - tic

    tic = time.perf_counter()
    os.makedirs(p.folder, exist_ok=True)
    files = output_files(p.folder, ref.model)
    words = [vec.words[r] for r in on_map.tolist()]
    colours = _colours(found)
    title = (
        f"{ref}: t-SNE of the {len(words)} most frequent words, coloured by {found} k-means clusters "
        f"(cosine) of all {len(vec)} words"
    )
    _draw_png(files["png"], title, words, xy, labels[on_map], info, colours)
    with open(files["html"], "w", encoding="utf-8") as fh:
        fh.write(_html_page(title, words, xy, labels[on_map], info, colours))
    summary = {
        "model": str(ref), "model_run_id": vec.run_id, "run_id": run_id, "words": len(vec), "dim": vec.dim,
        "on_map": len(words), "clusters_asked": pc.clusters, "clusters": info, "seed": pc.seed,
        "perplexity": pc.perplexity, "iterations": pc.iterations, "table": paths.join(cfg.output.path, "clusters"),
    }  # fmt: skip
    with open(files["json"], "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    with open(files["md"], "w", encoding="utf-8") as fh:
        fh.write(_markdown(title, info))
    seconds["drawing"] = time.perf_counter() - tic
    seconds["total"] = time.perf_counter() - t0 + before

    stats = {**summary, "no_cluster": int((labels < 0).sum()), "files": files, "seconds": seconds}
    log.info("plot: %d clusters of %s in %s; map in %s", found, ref, stats["table"], files["png"])
    return StageResult("plot", run_id, time.perf_counter() - t0, rows=len(vec), stats=stats)


def format_report(stats: dict[str, Any]) -> str:
    """The readable report of :func:`run`'s stats."""
    k = len(stats["clusters"])
    head = (
        f"map of {stats['model']} (run {stats['model_run_id']}; {stats['words']} words, dim {stats['dim']}): "
        f"the {stats['on_map']} most frequent by t-SNE (perplexity {stats['perplexity']:g}), "
        f"{k} k-means clusters (cosine) of all words, seed {stats['seed']}"
    )
    if k < stats["clusters_asked"]:
        head += f"; k-means found {k} of the {stats['clusters_asked']} clusters asked"
    if stats["no_cluster"]:
        head += f"; {stats['no_cluster']} zero vectors have no cluster"
    width = len(str(max(c["size"] for c in stats["clusters"])))
    lines = [head, "", "cluster  words  on map  most central words (then those on the map)"]
    for c in stats["clusters"]:
        lead = f"  {c['cluster']:>5}  {c['size']:>{max(width, 5)}}  {c['on_map']:>6}  "
        lines.append(lead + ", ".join(w for w, _ in c["central"]))
        lines.append(" " * (len(lead) - 6) + "map:  " + ", ".join(w for w, _ in c["central_on_map"]))
    files = stats["files"]
    folder = os.path.dirname(files["png"])
    names = ", ".join(os.path.basename(f) for f in files.values())
    s = stats["seconds"]
    lines += [
        "",
        f"wrote {names} to {folder}",
        f"wrote {stats['words']} rows to {stats['table']}",
        "time: "
        + ", ".join(f"{key} {v:.1f} s" for key, v in s.items() if key != "total")
        + f"; {s['total']:.1f} s in all",
    ]
    return "\n".join(lines)
