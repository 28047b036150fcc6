"""Per-epoch checkpoints of a trainer's model (driver side).

A checkpoint is one ``.npz`` file (the model arrays) plus a JSON file (the
epoch it completed, the fingerprint of config and inputs, and the trainer's
history), written to a temporary name and renamed, so a run killed while
saving leaves the previous checkpoint intact. ``--resume`` loads it only when
the fingerprint matches the current config and inputs.

Checkpoints live under ``<output.path>/_checkpoints/<model>/`` and need a
path the driver can write with ordinary file I/O (local disk, a mounted
volume, or ``/dbfs/...`` on Databricks).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedpipe import paths

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    epoch: int  # last completed epoch, 0-based
    state: dict[str, np.ndarray]
    info: dict[str, Any]


def checkpoint_dir(output_path: str, model: str) -> str:
    local = paths.local_path(output_path)
    return os.path.join(local if local is not None else output_path, "_checkpoints", model)


def save(directory: str, epoch: int, state: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    os.makedirs(directory, exist_ok=True)
    arrays = os.path.join(directory, "state.npz")
    meta = os.path.join(directory, "state.json")
    tmp_arrays = arrays + ".tmp.npz"
    np.savez(tmp_arrays, **state)  # type: ignore[arg-type]  # numpy's stub reads **kwds as allow_pickle
    os.replace(tmp_arrays, arrays)
    tmp_meta = meta + ".tmp"
    with open(tmp_meta, "w", encoding="utf-8") as fh:
        json.dump({**info, "epoch": epoch}, fh)
    os.replace(tmp_meta, meta)


def load(directory: str, fingerprint: str) -> Checkpoint | None:
    """The checkpoint in ``directory`` if its fingerprint matches, else None."""
    arrays = os.path.join(directory, "state.npz")
    meta = os.path.join(directory, "state.json")
    if not (os.path.exists(arrays) and os.path.exists(meta)):
        return None
    with open(meta, encoding="utf-8") as fh:
        info = json.load(fh)
    if info.get("fingerprint") != fingerprint:
        log.warning("checkpoint in %s was made with another config or input; starting from scratch", directory)
        return None
    with np.load(arrays) as npz:
        state = {k: np.array(npz[k]) for k in npz.files}
    return Checkpoint(epoch=int(info["epoch"]), state=state, info=info)


def describe(directory: str) -> str:
    meta = os.path.join(directory, "state.json")
    if not os.path.exists(meta):
        return "No checkpoint was written yet."
    with open(meta, encoding="utf-8") as fh:
        epoch = json.load(fh).get("epoch", -1)
    return f"The last good checkpoint (after epoch {epoch + 1}) is kept in {directory}."
