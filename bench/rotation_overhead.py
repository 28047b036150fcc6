"""What the rotation engine costs beyond the kernels: time per sub-epoch with a trainer that does no work.

    python -m bench.rotation_overhead --words 67873 --dim 100 --blocks 2,8,32 --epochs 2 --out DIR

For each block count the engine runs ``--epochs`` epochs of P sub-epochs
(one round) over a model of ``--words`` × ``--dim`` (both sides, as
skip-gram's) on ``local[2]``, with cells of ``--pairs`` int32 pairs per
epoch, and a trainer that touches nothing. It reports the seconds per
sub-epoch, the model bytes that go through the shuffle per epoch, and the Spark jobs
per epoch, so the engine's own cost can be compared with the kernels'
(bench/results/*-sgns-rotation-*). ``OUT/report.md`` and ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from embedpipe.config import SparkConfig
from embedpipe.distributed import Shared
from embedpipe.kernels.blocks import assign_blocks
from embedpipe.session import get_session
from embedpipe.training.loop import Health
from embedpipe.training.rotation import CELLS_DDL, Cell, RotationPlan, train_with_rotation


@dataclass(frozen=True)
class IdleCells:
    """A trainer of the engine's protocol that trains nothing."""

    dim: int
    data_dtypes: tuple[Any, ...] = (np.int32, np.int32)
    stats: tuple[str, ...] = ("loss", "pairs")

    @property
    def in_width(self) -> int:
        return self.dim

    @property
    def out_width(self) -> int:
        return self.dim

    def init_rows(self, ids: np.ndarray, side: int) -> np.ndarray:
        return np.full((len(ids), self.dim), 0.01, np.float32)

    def train(self, cell: Cell) -> dict[str, float]:
        return {"loss": 0.0, "pairs": float(len(cell.data[0]))}


def _cells(spark: SparkSession, blocks: int, pairs: int, assignment: Shared[np.ndarray]) -> DataFrame:
    """An epoch's cells: ``pairs`` random int32 pairs spread evenly over the P × P cells."""
    per_cell = max(1, pairs // (blocks * blocks))
    rows = []
    rng = np.random.default_rng(0)
    block_of = assignment.value
    members = [np.flatnonzero(block_of == b).astype(np.int32) for b in range(blocks)]
    for task in range(blocks):
        for sub in range(blocks):
            q = (task + sub) % blocks
            a = rng.choice(members[task], per_cell).astype(np.int32)
            b = rng.choice(members[q], per_cell).astype(np.int32)
            rows.append((task, sub, 0, a.tobytes(), b.tobytes(), None))
    return spark.createDataFrame(rows, CELLS_DDL).repartition(blocks)


def measure(spark: SparkSession, words: int, dim: int, blocks: int, epochs: int, pairs: int) -> dict[str, Any]:
    mass = np.ones(words)
    block_of, _ = assign_blocks(mass, blocks, 1)
    jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    plan = RotationPlan(
        model="idle", trainer=IdleCells(dim), blocks=blocks, epochs=epochs, seed=1,
        assignment=lambda epoch: block_of,
        cells=lambda epoch, shared: _cells(spark, blocks, pairs, shared),
        learning_rate=lambda epoch, sub: (0.0, 0.0), loss_stat="loss", count_stat="pairs", work_units="pairs",
        advice="",
    )  # fmt: skip
    t0 = time.perf_counter()
    train_with_rotation(
        spark, plan, start_epoch=0, state=None, on_epoch_end=lambda e, state, losses: state,
        health=Health("", lambda: ""),
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup()) - jobs_before
    per_round = [r.seconds for r in plan.history]
    # After the first round (which also makes the blocks and the cells).
    steady = float(np.mean(per_round[1:])) if len(per_round) > 1 else per_round[0]
    return {
        "blocks": blocks,
        "words": words,
        "dim": dim,
        "seconds": round(seconds, 2),
        "seconds_per_sub_epoch": round(steady / blocks, 3),
        # Every sub-epoch's step emits both sides of every block into one shuffle.
        "model_bytes_shuffled_per_epoch": 2 * 4 * words * dim * blocks,
        "spark_jobs_per_epoch": round(jobs / epochs, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=67873)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--blocks", default="2,8,32")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7_000_000, help="pairs per epoch in the cells")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    spark = get_session(SparkConfig(master=args.master, partitions=2))
    rows = []
    for p in (int(x) for x in args.blocks.split(",")):
        rows.append(measure(spark, args.words, args.dim, p, args.epochs, args.pairs))
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| blocks | s per sub-epoch | model bytes shuffled per epoch | Spark jobs per epoch |",
        "|---:|---:|---:|---:|",
        *(f"| {r['blocks']} | {r['seconds_per_sub_epoch']} | {r['model_bytes_shuffled_per_epoch']:,} | "
          f"{r['spark_jobs_per_epoch']} |" for r in rows),
    ]  # fmt: skip
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
