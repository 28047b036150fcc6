"""Training: the two trainers and the engine they share.

- :mod:`.glove`, :mod:`.sgns`: the trainers (each gives the engine its parameter groups and kernel);
- :mod:`.loop`: what both trainers share around training: the health check, resume, the memory estimate,
  the epoch-end checkpoint, write-out;
- :mod:`.averaging`: the parameter-averaging rounds (the model on the driver);
- :mod:`.rotation`: block-rotated training (the model in blocks on the executors);
- :mod:`.merge`: the rules that merge the replicas' rows;
- :mod:`.schedule`: which data trains in which round, and the learning-rate schedule;
- :mod:`.checkpoint`: the per-epoch checkpoints.

Called, the package is the Python API: ``embedpipe.train(spark, df, ...)``
runs :func:`embedpipe.api.train`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """This package, callable: ``embedpipe.train(spark, data, ...)`` is :func:`embedpipe.api.train`.

    The Python API's ``embedpipe.train`` cannot be a function of
    ``embedpipe/__init__.py``: Python binds a subpackage to its parent's
    attribute when it is first imported, so the first ``import
    embedpipe.train.sgns`` (every training run makes one) would replace the
    function by this package. The package answers the call instead, whatever
    was imported first.
    """

    def __call__(self, spark: Any, data: Any, config: Any = None, **kwargs: Any) -> Any:
        from embedpipe.api import train  # the entry point imports the stages; only a call needs them

        return train(spark, data, config, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
