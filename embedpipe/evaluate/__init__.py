"""The evaluate stage: score vectors on word similarity and analogy sets.

- :mod:`.stage`: the stage (reads ``vectors``, writes ``evaluation``), with the Spark analogy search;
- :mod:`.evalsets`: the shipped and user-given evaluation sets;
- :mod:`.scoring`: the scoring protocol (Spearman, 3CosAdd, 3CosMul);
- :mod:`.plots`: the 2-D projection and benchmark plots.
"""

from __future__ import annotations

from embedpipe.evaluate.stage import run

__all__ = ["run"]
