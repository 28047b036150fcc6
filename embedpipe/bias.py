"""``embedpipe bias``: WEAT tests, a gender direction, and optional debiasing of a model.

``embedpipe bias CONF --model MODEL[@RUN] [--words FILE] [--json]``

1. **WEAT** (Caliskan, Bryson and Narayanan 2017): for each test of
   ``bias.tests`` (from ``bias.sets``, by default ``embedpipe/data/bias/weat.txt``: flowers vs
   insects and instruments vs weapons against pleasant vs unpleasant, male vs
   female names against career vs family, math or science vs arts against
   male vs female terms), the effect size and a one-sided permutation
   p-value (:mod:`embedpipe.kernels.weat`): exact when at most
   ``bias.exact_max`` partitions exist, else ``bias.permutations`` seeded
   draws. Words the model lacks are left out and counted; a test with a set
   of fewer than 2 words gets no score.
2. **A gender direction** (Bolukbasi et al. 2016): the first principal
   component of the definitional pairs (she/he, woman/man ..., or
   ``bias.pairs``), and each word of ``bias.words`` (the shipped occupations
   by default) projected on it; the ``bias.top`` words at each end are listed.
3. **Debiasing** (``bias.debias: neutralize``): the words of ``bias.words``
   lose their component along the direction, every vector is made unit
   length (Bolukbasi et al. work on unit vectors), and the result is written
   to ``vectors`` as ``<model>-debiased`` (``--name``).

The WEAT rows are appended to the ``bias`` table under ``output.path`` (run
id, model and its run, test, effect size, p-value, words found, time), so
runs and models compare over time. The model is read through delta-rs
where it reads ``output.path``; only the table writes start Spark.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from embedpipe import paths
from embedpipe.config import PipelineConfig, model_name_problem
from embedpipe.errors import ConfigError, InputError
from embedpipe.kernels.weat import associations, definitional_direction, effect_size, neutralize, p_value
from embedpipe.stage import StageResult, new_run_id
from embedpipe.vectors.keyed import Vectors
from embedpipe.vectors.models import ModelRef, load_model, parse_ref

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["WordSets", "format_report", "measure", "prepare", "read_weat_sets", "read_words", "run"]

log = logging.getLogger(__name__)


def _shipped(name: str) -> str:
    return str(resources.files("embedpipe").joinpath("data", "bias", name))


@dataclass(frozen=True)
class WordSets:
    """Named word sets and the tests over them: ``{test: (X, Y, A, B)}`` set names."""

    sets: dict[str, list[str]]
    tests: dict[str, tuple[str, str, str, str]]


def _lines(path: str, what: str) -> list[tuple[int, str]]:
    local = paths.local_path(path)
    if local is None or not os.path.isfile(local):
        raise InputError(f"no {what} file {path}; give a local text file")
    with open(local, encoding="utf-8") as fh:
        return [(n, text) for n, line in enumerate(fh, 1) if (text := line.split("#", 1)[0].strip())]


def read_weat_sets(path: str | None = None) -> WordSets:
    """Word sets and tests of a file of ``set NAME: words`` and ``test NAME: X Y A B`` lines (default: shipped)."""
    path = path or _shipped("weat.txt")
    sets: dict[str, list[str]] = {}
    tests: dict[str, tuple[str, str, str, str]] = {}
    for n, text in _lines(path, "WEAT sets"):
        kind, _, rest = text.partition(" ")
        name, colon, words = rest.partition(":")
        if kind not in ("set", "test") or not colon or not name.strip():
            raise InputError(f"{path}, line {n}: expected 'set NAME: words' or 'test NAME: X Y A B', got {text!r}")
        if kind == "set":
            sets[name.strip()] = words.split()
        else:
            parts = words.split()
            if len(parts) != 4 or any(p not in sets for p in parts):
                raise InputError(f"{path}, line {n}: a test names four sets defined above it (X Y A B), got {words!r}")
            tests[name.strip()] = (parts[0], parts[1], parts[2], parts[3])
    return WordSets(sets, tests)


def read_words(path: str) -> list[str]:
    """One word per line (``#`` comments) of a local file."""
    return [text.split()[0] for _, text in _lines(path, "word list")]


def read_pairs(path: str) -> list[tuple[str, str]]:
    """Two words per line of a local file."""
    pairs = []
    for n, text in _lines(path, "definitional pairs"):
        cols = text.split()
        if len(cols) != 2:
            raise InputError(f"{path}, line {n}: expected two words (e.g. 'she he'), got {text!r}")
        pairs.append((cols[0], cols[1]))
    return pairs


def _found(vec: Vectors, words: list[str]) -> list[str]:
    return [w for w in words if w in vec]


def measure(vec: Vectors, cfg: PipelineConfig, sets: WordSets, pairs: list[tuple[str, str]], words: list[str]) -> dict:
    """WEAT scores, the gender direction and the projections of ``words`` (numpy, on the driver)."""
    b = cfg.bias
    results = []
    for test in b.tests:
        names = sets.tests[test]
        groups = [sets.sets[s] for s in names]
        found = [_found(vec, g) for g in groups]
        row: dict[str, Any] = {
            "test": test, "sets": list(names), "n_found": sum(map(len, found)), "n_words": sum(map(len, groups)),
            "missing": [w for g, f in zip(groups, found, strict=True) for w in g if w not in f],
            "effect_size": None, "p_value": None, "exact": None,
        }  # fmt: skip
        if min(map(len, found)) >= 2:
            x, y, a, bb = (vec[f] for f in found)
            row["effect_size"] = effect_size(x, y, a, bb)
            p, exact = p_value(
                associations(x, a, bb), associations(y, a, bb),
                exact_max=b.exact_max, samples=b.permutations, seed=b.seed,
            )  # fmt: skip
            row["p_value"], row["exact"] = p, exact
            row["partitions"] = math.comb(len(found[0]) + len(found[1]), len(found[0]))
        else:
            log.warning("bias: %s has a set with fewer than 2 words in %s; not scored", test, vec.model)
        results.append(row)

    both = [(s, h) for s, h in pairs if s in vec and h in vec]
    direction: dict[str, Any] = {"pairs": len(pairs), "pairs_found": len(both), "vector": None}
    if len(both) >= 2:
        g, share = definitional_direction(vec[[s for s, _ in both]], vec[[h for _, h in both]])
        listed = list(dict.fromkeys(_found(vec, words)))
        proj = vec.unit()[[vec.row(w) for w in listed]].astype(np.float64) @ g if listed else np.zeros(0)
        order = np.argsort(-proj, kind="stable")
        direction.update(
            vector=g, share=share, words=len(words), words_found=len(listed),
            projections=[(listed[i], float(proj[i])) for i in order.tolist()],
        )  # fmt: skip
    else:
        log.warning("bias: %d of the definitional pairs are in %s; no direction", len(both), vec.model)
    return {"weat": results, "direction": direction}


def prepare(
    cfg: PipelineConfig, model: str, name: str | None, spark: Callable[[], SparkSession]
) -> tuple[ModelRef, str | None, Vectors, dict]:
    """Check the settings, read the word files and the model, and measure: everything before a write.

    Raises
    ------
    ConfigError
        An unknown test, a bad model reference or output name.
    InputError
        A word file that cannot be read.
    TableError
        No such model or run.
    """
    ref = parse_ref(model)
    sets = read_weat_sets(cfg.bias.sets or None)
    unknown = [t for t in cfg.bias.tests if t not in sets.tests]
    if unknown:
        where = f"the tests of {cfg.bias.sets}" if cfg.bias.sets else "the shipped tests"
        raise ConfigError(f"bias.tests: unknown test {unknown[0]!r}; {where} are {list(sets.tests)}")
    out_name = None
    if cfg.bias.debias == "neutralize":
        out_name = name or f"{ref.model}-debiased"
        problem = model_name_problem(out_name, imported=True)
        if problem is not None:
            raise ConfigError(f"--name: {problem}")
        if out_name == ref.model:
            raise ConfigError(f"--name {out_name!r} would replace the model it is made from; pick another")
    pairs = read_pairs(cfg.bias.pairs or _shipped("gender_pairs.txt"))
    words = read_words(cfg.bias.words or _shipped("occupations.txt"))
    vec = load_model(cfg.output.path, ref, spark)
    return ref, out_name, vec, measure(vec, cfg, sets, pairs, words)


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    *,
    model: str,
    name: str | None = None,
    prepared: tuple[ModelRef, str | None, Vectors, dict] | None = None,
) -> StageResult:
    """Measure ``model``, append the WEAT rows to ``bias``, and write the debiased model if asked."""
    from embedpipe import tables

    t0 = time.perf_counter()
    ref, out_name, vec, found = prepared or prepare(cfg, model, name, lambda: spark)
    run_id = new_run_id()
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    rows = [
        (run_id, ref.model, vec.run_id, r["test"], r["effect_size"], r["p_value"], r["n_found"], r["n_words"], now)
        for r in found["weat"]
    ]
    if rows:
        meta = {"stage": "bias", "run_id": run_id, "model": ref.model, "model_run_id": vec.run_id,
                "config": {"bias": cfg.to_dict()["bias"]}}  # fmt: skip
        df = spark.createDataFrame(rows, schema=tables.BIAS)
        tables.write(df, cfg.output.path, "bias", metadata=meta, mode="append")
    direction = dict(found["direction"])
    g = direction.pop("vector")
    if out_name is not None:
        if g is None:
            raise InputError(f"bias.debias: {ref} holds fewer than 2 definitional pairs, so there is no direction")
        _write_debiased(spark, cfg, vec, ref, out_name, g, direction)
    stats = {
        "model": str(ref), "model_run_id": vec.run_id, "weat": found["weat"], "direction": direction,
        "debiased": out_name, "table": paths.join(cfg.output.path, "bias"), "seed": cfg.bias.seed,
        "permutations": cfg.bias.permutations, "top": cfg.bias.top,
    }  # fmt: skip
    return StageResult("bias", run_id, time.perf_counter() - t0, rows=len(rows), stats=stats)


def _write_debiased(
    spark: SparkSession, cfg: PipelineConfig, vec: Vectors, ref: ModelRef, out_name: str, g: np.ndarray, direction: dict
) -> None:
    from embedpipe.vectors.table import write_vectors

    matrix = vec.unit().copy()
    neutral = [vec.row(w) for w, _ in direction.get("projections", [])]
    if neutral:
        matrix[neutral] = neutralize(vec.matrix[neutral], g)
    write_vectors(
        spark, cfg.output.path, model=out_name, run_id=new_run_id(), words=vec.words, counts=vec.counts,
        matrix=matrix, metadata={"stage": "bias", "imported": True, "source": str(ref), "source_run_id": vec.run_id,
                                 "debias": "neutralize", "neutralized": len(neutral)},
    )  # fmt: skip
    log.info("bias: wrote %s (%d words neutralized, all unit length)", out_name, len(neutral))


def format_report(stats: dict[str, Any]) -> str:
    """The readable report of :func:`run`'s stats."""
    lines = [f"WEAT on {stats['model']} (run {stats['model_run_id']}); p-values one-sided, seed {stats['seed']}", ""]
    width = max([len("test"), *(len(r["test"]) for r in stats["weat"])])
    lines.append(f"{'test':<{width}}  {'effect':>6}  {'p-value':>8}  {'words':>7}")
    for r in stats["weat"]:
        words = f"{r['n_found']}/{r['n_words']}"
        if r["effect_size"] is None:
            lines.append(f"{r['test']:<{width}}  {'-':>6}  {'-':>8}  {words:>7}  (a set has fewer than 2 words)")
            continue
        how = "exact" if r["exact"] else "sampled"
        p = "<0.0001" if r["p_value"] < 1e-4 else f"{r['p_value']:.4f}"  # sampled p can be 1/(permutations+1)
        lines.append(f"{r['test']:<{width}}  {r['effect_size']:>+6.2f}  {p:>8}  {words:>7}  {how}")
    d = stats["direction"]
    lines.append("")
    if "share" not in d:
        lines.append(f"gender direction: {d['pairs_found']}/{d['pairs']} definitional pairs found, too few")
    else:
        lines.append(
            f"gender direction: {d['pairs_found']}/{d['pairs']} definitional pairs, first component "
            f"{d['share']:.2f} of their variance; {d['words_found']}/{d['words']} words projected"
        )
        proj = d["projections"]
        k = min(stats["top"], len(proj) // 2)
        female, male = proj[:k], proj[::-1][:k]
        if k:
            fw_, mw_ = max(len(w) for w, _ in female), max(len(w) for w, _ in male)
            left = max(fw_ + 8, len("most female-leaning"))
            lines.append(f"  {'most female-leaning':<{left}}  most male-leaning")
            for (fw, fp), (mw, mp) in zip(female, male, strict=True):
                lines.append(f"  {f'{fw:<{fw_}}  {fp:+.3f}':<{left}}  {mw:<{mw_}}  {mp:+.3f}")
    if stats["debiased"]:
        lines += ["", f"wrote model {stats['debiased']} (occupation words neutralized, unit length) to vectors"]
    lines += ["", f"appended {len(stats['weat'])} rows to {stats['table']}"]
    return "\n".join(lines)
