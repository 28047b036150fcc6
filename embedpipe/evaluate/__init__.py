"""The evaluate stage: score vectors on word similarity and analogy sets.

- :mod:`.stage`: the stage (reads ``vectors``, writes ``evaluation``), with the Spark analogy search;
- :mod:`.evalsets`: the shipped and user-given evaluation sets;
- :mod:`.scoring`: the scoring protocol (Spearman, 3CosAdd, 3CosMul);
- :mod:`.plots`: the 2-D projection and benchmark plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["run"]

if TYPE_CHECKING:
    from embedpipe.evaluate.stage import run


def __getattr__(name: str) -> Any:
    # The stage imports pyspark; `Vectors.evaluate` uses scoring and evalsets without it.
    if name == "run":
        from embedpipe.evaluate.stage import run

        return run
    raise AttributeError(f"module 'embedpipe.evaluate' has no attribute {name!r}")
