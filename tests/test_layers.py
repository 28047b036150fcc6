"""The layering of the house, read from the source (no imports are executed).

- kernels import numpy and numba only: no pyspark, no config, nothing with I/O;
- no stage imports another stage, nor the CLI or the pipeline;
- the engine and the shared plumbing import no stage and no entry point;
- every SparkContext or RDD use sits in embedpipe/distributed.py, so a Spark
  Connect session (which has neither) can run everything else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "embedpipe"

# Each stage is the modules under these prefixes.
STAGES = {
    "ingest": ("embedpipe.ingest",),
    "vocab": ("embedpipe.vocab",),
    "encode": ("embedpipe.encode",),
    "cooccur": ("embedpipe.cooccur",),
    "glove": ("embedpipe.training.glove",),
    "sgns": ("embedpipe.training.sgns",),
    "evaluate": ("embedpipe.evaluate",),
    "export": ("embedpipe.vectors.export",),
    "neighbors": ("embedpipe.vectors.neighbors",),
    "align": ("embedpipe.align",),
    "bias": ("embedpipe.bias",),
    "embed": ("embedpipe.embed",),
    "plot": ("embedpipe.maps",),
}
ENTRY_POINTS = ("embedpipe.cli", "embedpipe.pipeline", "embedpipe.deploy", "embedpipe.doctor", "embedpipe.api",
                "embedpipe.ml")  # fmt: skip
ENGINE = ("embedpipe.training.loop", "embedpipe.training.averaging", "embedpipe.training.merge",
          "embedpipe.training.schedule", "embedpipe.training.checkpoint")  # fmt: skip
# embedpipe.cleaning is plumbing, not ingest's own: text becomes tokens by the same
# rules wherever it does (ingest the corpus, embed the texts that meet its vocabulary).
PLUMBING = ("embedpipe.cleaning", "embedpipe.config", "embedpipe.tables", "embedpipe.paths", "embedpipe.session",
            "embedpipe.errors", "embedpipe.distributed", "embedpipe.batches", "embedpipe.stage",
            "embedpipe.vectors.table", "embedpipe.vectors.queries", "embedpipe.vectors.formats")  # fmt: skip
# Pure computation only: no Spark, no I/O, no config. Threads are allowed
# (functools, concurrent.futures): the kernels release the GIL, and running
# them on a task's cores is still a function of arrays (kernels/threads.py).
KERNEL_ALLOWED = {"numpy", "numba", "llvmlite", "__future__", "math", "time", "typing", "collections", "dataclasses",
                  "functools", "concurrent"}  # fmt: skip


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            # `from embedpipe import tables` imports the module embedpipe.tables.
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return out


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def stage_of(name: str) -> str | None:
    return next((stage for stage, prefixes in STAGES.items() if under(name, prefixes)), None)


def test_every_module_is_in_a_layer():
    layered = (*[p for ps in STAGES.values() for p in ps], *ENTRY_POINTS, *ENGINE, *PLUMBING,
               "embedpipe.kernels", "embedpipe.training", "embedpipe.vectors", "embedpipe.tracking")  # fmt: skip
    loose = [m for m in MODULES if m != "embedpipe" and not under(m, layered)]
    assert not loose, f"modules outside every layer (add them to this test's map): {loose}"


@pytest.mark.parametrize("name", [m for m in MODULES if under(m, ("embedpipe.kernels",))])
def test_kernels_import_only_numpy_and_numba(name):
    own = ("embedpipe.kernels",)
    bad = {i for i in imports(MODULES[name]) if i.split(".")[0] not in KERNEL_ALLOWED and not under(i, own)}
    assert not bad, f"{name} imports {sorted(bad)}; kernels are pure array functions"


@pytest.mark.parametrize("name", [m for m in MODULES if stage_of(m)])
def test_no_stage_imports_another_stage_or_an_entry_point(name):
    own = stage_of(name)
    bad = {i for i in imports(MODULES[name]) if (stage_of(i) not in (None, own)) or under(i, ENTRY_POINTS)}
    assert not bad, f"stage {own} ({name}) imports {sorted(bad)}; stages share tables, not code"


@pytest.mark.parametrize("name", [m for m in MODULES if under(m, ENGINE + PLUMBING)])
def test_engine_and_plumbing_import_no_stage_and_no_entry_point(name):
    bad = {i for i in imports(MODULES[name]) if stage_of(i) or under(i, ENTRY_POINTS)}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_spark_context_and_rdds_are_used_only_in_distributed():
    found = []
    for name, path in MODULES.items():
        if name == "embedpipe.distributed":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("sparkContext", "rdd", "_jsc", "_jvm"):
                found.append(f"{name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Name) and node.id == "SparkContext":
                found.append(f"{name}:{node.lineno} SparkContext")
    assert not found, f"SparkContext or RDD use outside embedpipe/distributed.py: {found}"
