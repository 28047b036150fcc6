"""Are the vectors of the A/B runs the same to the bit? Reads each run's rows at its Delta version.

    python compare.py DEMO_TABLES FIRST_VERSION   # the version ab.sh's first run wrote (`DESCRIBE HISTORY`)

ab.sh writes 8 versions of the vectors table in its order: per rep, glove at 0 and 60, sgns at 0 and 60.
"""

from __future__ import annotations

import sys

import numpy as np
from deltalake import DeltaTable


def matrix(path: str, version: int, model: str) -> np.ndarray:
    frame = DeltaTable(path, version=version).to_pandas(filters=[("model", "=", model)]).sort_values("id")
    return np.stack(frame["vector"].to_numpy())


def main() -> None:
    path, first = f"{sys.argv[1]}/vectors", int(sys.argv[2])
    runs = [(rep, model, secs) for rep in (1, 2) for model in ("glove", "sgns") for secs in (0, 60)]
    got = {run: matrix(path, first + i, run[1]) for i, run in enumerate(runs)}
    for rep in (1, 2):
        for model in ("glove", "sgns"):
            a, b = got[(rep, model, 0)], got[(rep, model, 60)]
            print(f"rep {rep} {model}: {a.shape[0]} words x {a.shape[1]}, checkpoint_seconds 0 and 60 "
                  f"{'identical' if np.array_equal(a, b) else 'DIFFERENT'}")  # fmt: skip
    for model in ("glove", "sgns"):
        same = np.array_equal(got[(1, model, 0)], got[(2, model, 0)])
        print(f"{model}: rep 1 and rep 2 {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
