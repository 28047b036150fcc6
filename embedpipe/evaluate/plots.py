"""Pictures of trained vectors: a 2-D PCA of word groups, and benchmark bars.

Used by ``embedpipe evaluate CONF --plot DIR`` (see :func:`embedpipe.evaluate.run`),
which writes ``DIR/projection.png`` and ``DIR/benchmarks.png``.

* :func:`plot_projection`: one panel per model.  The vectors of the words of
  :data:`DEFAULT_GROUPS` (or your own groups) are unit-normalised, centred and
  projected on their first two principal components (numpy SVD of the
  selected words only, so each model gets its own axes); each group has its
  own colour and every point is labelled.  Words missing from a model's
  vocabulary are skipped.
* :func:`plot_benchmarks`: grouped bars, one group per benchmark (Spearman's
  rho for pair sets, 3CosAdd accuracy for analogy sets), one bar per model,
  values written on the bars; ``n/a`` where a metric is undefined.

matplotlib is an optional dependency (``pip install embedpipe[plot]``); it is
imported inside the functions.  Figures are drawn on the non-interactive Agg
canvas directly (no pyplot), so the backend of a notebook or of other code in
the process is left alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from embedpipe.errors import PlotDependencyError

__all__ = [
    "DEFAULT_GROUPS",
    "PlotDependencyError",
    "WordVectors",
    "pick_words",
    "plot_benchmarks",
    "plot_projection",
    "require_matplotlib",
]

#: Word groups drawn by :func:`plot_projection` unless told otherwise.
DEFAULT_GROUPS: dict[str, list[str]] = {
    "countries / capitals": "france paris germany berlin italy rome japan tokyo".split(),
    "family": "man woman king queen boy girl father mother".split(),
    "numbers": "one two three four five six".split(),
    "verb tenses": "go went walk walked run ran".split(),
}

_INSTALL_HINT = "plotting needs matplotlib: pip install embedpipe[plot]"


class VectorsLike(Protocol):
    words: Sequence[str]
    matrix: np.ndarray


@dataclass
class WordVectors:
    """A few words and their vectors (row k is ``words[k]``)."""

    words: list[str]
    matrix: np.ndarray


def require_matplotlib() -> None:
    """Fail early with :class:`PlotDependencyError` when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise PlotDependencyError(f"{_INSTALL_HINT} ({e})") from e


def _new_figure(width: float, height: float) -> tuple[Any, Any]:
    """An Agg-backed Figure and the tab10 colours.

    Raises :class:`PlotDependencyError` if matplotlib is missing.
    """
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotDependencyError(f"{_INSTALL_HINT} ({e})") from e
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, matplotlib.colormaps["tab10"].colors  # type: ignore[attr-defined]  # tab10 is a ListedColormap


def pick_words(words: Sequence[str], matrix: np.ndarray, groups: Mapping[str, Sequence[str]]) -> WordVectors:
    """The rows of the group words present in ``words``.

    Words are matched lower-cased; the first (most frequent) match wins, as in
    :mod:`embedpipe.evaluate.scoring`.  Small enough to keep per model while a large model is released.
    """
    wanted = {w.lower() for ws in groups.values() for w in ws}
    rows: dict[str, int] = {}
    for i, w in enumerate(words):
        lw = w.lower()
        if lw in wanted and lw not in rows:
            rows[lw] = i
            if len(rows) == len(wanted):
                break
    found = list(rows)
    m = np.asarray(matrix)
    sub = m[[rows[w] for w in found]] if found else np.zeros((0, m.shape[1] if m.ndim == 2 else 0))
    return WordVectors(found, np.asarray(sub, dtype=np.float64))


def _pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalise, centre and project rows on the top-2 principal axes.

    Returns the (n, 2) coordinates and the fraction of variance of each axis.
    Signs are fixed (largest loading positive) so pictures are reproducible.
    """
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2)), np.zeros(2)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, vt.shape[0])
    for i in range(k):
        if vt[i, np.argmax(np.abs(vt[i]))] < 0:
            vt[i] = -vt[i]
    coords = np.zeros((n, 2))
    coords[:, :k] = x @ vt[:k].T
    var = s**2
    total = var.sum()
    frac = np.zeros(2)
    if total > 0:
        frac[:k] = var[:k] / total
    return coords, frac


def plot_projection(
    vectors_by_model: Mapping[str, VectorsLike],
    groups: Mapping[str, Sequence[str]] | None,
    path: str | os.PathLike[str],
) -> str:
    """Write a PNG with one PCA panel per model of the ``groups`` words.

    Parameters
    ----------
    vectors_by_model : mapping
        ``{model: vectors}``; anything with ``words`` (frequency order) and a
        ``(len(words), dim)`` ``matrix``, e.g. :class:`embedpipe.vectors.Vectors`
        or :class:`WordVectors`.
    groups : mapping or None
        ``{group name: [word, ...]}``; ``None`` means :data:`DEFAULT_GROUPS`.
        Words are matched lower-cased; missing ones are skipped.
    path : str or path
        Output PNG file; its folder is created.

    Returns
    -------
    str
        ``path``.
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    if not vectors_by_model:
        raise ValueError("plot_projection needs at least one model")
    n = len(vectors_by_model)
    fig, colours = _new_figure(6.0 * n, 5.6)
    axes = fig.subplots(1, n, squeeze=False)
    labels: list[tuple[Any, list[tuple[str, np.ndarray, Any]]]] = []
    for ax, (model, vec) in zip(axes[0], vectors_by_model.items(), strict=True):
        items: list[tuple[str, np.ndarray, Any]] = []
        labels.append((ax, items))
        picked = pick_words(vec.words, vec.matrix, groups)
        coords, frac = _pca_2d(picked.matrix)
        at = {w: coords[i] for i, w in enumerate(picked.words)}
        missing = 0
        for g, (name, ws) in enumerate(groups.items()):
            present = [w.lower() for w in ws if w.lower() in at]
            missing += len(ws) - len(present)
            if not present:
                continue
            xy = np.array([at[w] for w in present])
            colour = colours[g % len(colours)]
            ax.scatter(xy[:, 0], xy[:, 1], color=colour, s=36, label=name, zorder=3)
            items.extend((w, p, colour) for w, p in zip(present, xy, strict=True))
        title = f"{model}: PCA of {len(picked.words)} words"
        if missing:
            title += f" ({missing} not in vocabulary)"
        ax.set_title(title, fontsize=11)
        if picked.words:
            ax.set_xlabel(f"PC1 ({frac[0]:.0%} of variance)")
            ax.set_ylabel(f"PC2 ({frac[1]:.0%} of variance)")
            ax.legend(loc="best", fontsize=8, framealpha=0.8)
            ax.margins(0.15)
        else:
            ax.text(
                0.5,
                0.5,
                "none of the words is in the vocabulary",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_xticks([])
            ax.set_yticks([])
        ax.axhline(0, color="0.85", lw=0.8, zorder=1)
        ax.axvline(0, color="0.85", lw=0.8, zorder=1)
        ax.grid(True, color="0.93", zorder=0)
    fig.tight_layout()
    for ax, items in labels:
        _place_labels(ax, items)
    _save(fig, path)
    return str(path)


def _place_labels(ax: Any, items: list[tuple[str, np.ndarray, Any]], fontsize: float = 9) -> None:
    """Label points, greedily choosing for each label the offset that overlaps least.

    Geometry is in points (1/72 inch), so it holds at any saving dpi; text
    boxes are estimated from the number of characters.
    """
    if not items:
        return
    ax.autoscale_view()
    to_pt = 72.0 / ax.figure.dpi
    pts = ax.transData.transform(np.array([p for _, p, _ in items])) * to_pt
    r = 3.5  # marker radius
    taken = [(x - r, y - r, x + r, y + r) for x, y in pts]
    h = fontsize * 1.15
    for (word, p, colour), (x, y) in zip(items, pts, strict=True):
        w = 0.58 * fontsize * len(word) + 1.0
        offsets = [
            (4, 2), (4, -h - 2), (-4 - w, 2), (-4 - w, -h - 2),
            (-w / 2, 5), (-w / 2, -h - 5), (6, -h / 2), (-6 - w, -h / 2),
            (4, 9), (4, -h - 9), (-4 - w, 9), (-4 - w, -h - 9),
        ]  # fmt: skip
        best, best_cost = offsets[0], np.inf
        for dx, dy in offsets:
            box = (x + dx, y + dy, x + dx + w, y + dy + h)
            cost = sum(_overlap(box, t) for t in taken)
            if cost < best_cost:
                best, best_cost = (dx, dy), cost
                if cost == 0:
                    break
        dx, dy = best
        taken.append((x + dx, y + dy, x + dx + w, y + dy + h))
        ax.annotate(
            word,
            tuple(p),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=fontsize,
            color=colour,
            zorder=4,
        )


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _primary_metric(r: Mapping[str, Any]) -> tuple[str, str]:
    """(metric key, axis label) shown for one benchmark's result dict."""
    if "spearman" in r:
        return "spearman", "Spearman ρ"
    return "accuracy", "acc. (3CosAdd)"


def _value(v: Any) -> float:
    if v is None:
        return math.nan
    return float(v)


def plot_benchmarks(results: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str | os.PathLike[str]) -> str:
    """Write a grouped bar chart comparing models on every benchmark.

    Parameters
    ----------
    results : mapping
        ``{model: score_vectors(...) result}``, i.e. ``{model: {benchmark:
        metrics}}``.  Pair sets show ``spearman``, analogy sets ``accuracy``
        (3CosAdd); the coverage is written under each value.
    path : str or path
        Output PNG file; its folder is created.

    Returns
    -------
    str
        ``path``.
    """
    if not results:
        raise ValueError("plot_benchmarks needs at least one model")
    models = list(results)
    benches: list[str] = []
    for benches_of_model in results.values():
        for b in benches_of_model:
            if b not in benches:
                benches.append(b)
    labels = []
    for b in benches:
        r = next(results[m][b] for m in models if b in results[m])
        labels.append(f"{b}\n{_primary_metric(r)[1]}")
    width = 0.8 / len(models)
    x = np.arange(len(benches), dtype=np.float64)
    width_in = 2.2 + len(benches) * (0.9 + 0.45 * len(models))
    fig, colours = _new_figure(max(6.0, width_in), 4.8)
    ax = fig.subplots()
    lo, hi = 0.0, 0.0
    for k, m in enumerate(models):
        vals, texts = [], []
        for b in benches:
            got = results[m].get(b)
            v = math.nan if got is None else _value(got.get(_primary_metric(got)[0]))
            vals.append(v)
            if math.isnan(v):
                texts.append("n/a")
            else:
                cov = None if got is None else got.get("coverage")
                cov_s = "" if cov is None or math.isnan(float(cov)) else f"\n{float(cov):.0%} cov."
                texts.append(f"{v:.3f}{cov_s}")
        heights = [0.0 if math.isnan(v) else v for v in vals]
        lo, hi = min(lo, *heights), max(hi, *heights)
        bars = ax.bar(
            x + (k - (len(models) - 1) / 2) * width,
            heights,
            width * 0.92,
            label=m,
            color=colours[k % len(colours)],
            zorder=2,
        )
        ax.bar_label(bars, labels=texts, padding=2, fontsize=8)
    ax.set_xticks(x, labels, fontsize=9)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylim(min(lo * 1.25, 0.0) - (0.12 if lo < 0 else 0.0), max(hi * 1.25, 0.05) + 0.08)
    ax.set_ylabel("score (higher is better)")
    ax.set_title("Benchmarks (cov. = share of pairs / questions in the vocabulary)", fontsize=10)
    ax.grid(True, axis="y", color="0.92", zorder=0)
    ax.legend(title="model", fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    _save(fig, path)
    return str(path)


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
