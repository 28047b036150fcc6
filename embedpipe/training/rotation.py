"""Block-rotated training (DSGD): the model lives in P blocks on the executors.

Words are dealt to P blocks (``spark.partitions``). An epoch is P
sub-epochs; in sub-epoch ``s`` task ``p`` holds input block ``p`` and output
block ``q = (p + s) mod P`` and trains exactly the data of cell ``(p, q)``:
the entries (GloVe) or pairs (skip-gram) whose input word is in block ``p``
and whose output word is in block ``q`` (Gemulla et al., KDD 2011; Swivel
and PyTorch-BigGraph train the same way). No two tasks of a sub-epoch touch
the same row, so nothing is merged: the P tasks compute what one process
would, in another visiting order.

Rounds
------
An epoch can be cut into R rounds (``RotationPlan.rounds``): each round runs
the P sub-epochs over 1/R of the epoch's data, so a row meets each output
block in R short bursts instead of one long one. Skip-gram needs this: with
one round its quality falls at 8 blocks and more, from the visiting order
alone (bench/results/2026-12-02-block-schedule).

Where the model is
------------------
Between epochs the blocks are rows of a DataFrame (``tables.BLOCKS``: side,
block, ids, vals as raw bytes). Within an epoch they are records of a
:class:`~embedpipe.distributed.TaskRing` of T = min(P, task slots) tasks:
task t holds input blocks p ≡ t (mod T), so a Spark task is not a replica
(a Python task costs ~80 ms however small,
bench/results/2026-12-02-rotation-overhead). When T divides P, the output
blocks a task holds in sub-epoch s are also the ones its inputs need in
sub-epochs s + T, s + 2T, ...: one engine step trains those P / T
sub-epochs, and only then does each output block move to the task that
needs it next (:func:`ring_layout`). A round is then T steps whatever P,
and the task count sets the order of a round's sub-epochs (the cells and
their seeds do not depend on it). The epoch's cells are shuffled once, to
the task that trains them, and cached there; each step reads its own from
that cache without moving them again. A round's steps run as one Spark job,
whose result stays on the executors (``localCheckpoint``).

After the last epoch, and after any other once ``output.checkpoint_seconds``
have passed since the last checkpoint, the blocks are written to the
checkpoint table under ``output.path`` in one Delta commit that also
records the epoch, so a killed run resumes from its last checkpoint on any
filesystem and trains the epochs since again. The next epoch starts from
the checkpoint's rows, or, when none was written, from the blocks the
tasks hold. Spark jobs per epoch: R rounds, the epoch's cells (one job, cut
from rows cached once a run: skip-gram's corpus chunks, GloVe's packed
entries, and for GloVe only once a run with ``per_run`` blocks), and
a checkpoint's when one is due. The blocks are made, or dealt again from
the rows they start from, in the ring's own map within the first round's
job.

The driver schedules, sums the tasks' statistics (accumulators), prints one
progress line per round and checks the run's health; it never holds a
block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from embedpipe import distributed, tables
from embedpipe.distributed import Shared, TaskRing, share, training_cores
from embedpipe.kernels.threads import run_parallel
from embedpipe.training.loop import Health, format_duration, format_rate

log = logging.getLogger(__name__)

IN, OUT = 0, 1
# Kinds of records a task holds: input blocks (they stay with the task),
# output blocks (each moves on after every sub-epoch), and the sub-epoch's data.
_KIND_IN, _KIND_OUT, _KIND_DATA = 0, 1, 2
# Largest bytes of one block row. PySpark's shuffle packs up to 10 × tasks + 1
# records bound for one task into a single byte array that the JVM reads
# whole, and keeps it that way when the ring's state is persisted: at 64 MB
# a 2-task ring sent 1.3 GB arrays, and at 8 MB the 170 MB ones still ran a
# 5M-word model's 4 GB local JVM out of heap while its checkpoint read them
# back. At 1 MB they stay near 21 MB.
CHUNK_BYTES = 1 << 20

# The cells of an epoch: rows of (task, sub-epoch, order, up to three arrays as bytes).
CELLS_DDL = "task int, sub int, seq long, a binary, b binary, c binary"


@dataclass
class Cell:
    """What one task trains in one sub-epoch (all plain numpy)."""

    epoch: int
    sub: int
    task: int
    in_ids: np.ndarray  # int32, ascending
    in_vals: np.ndarray  # float32 (len(in_ids), in_width), updated in place
    out_ids: np.ndarray
    out_vals: np.ndarray
    data: tuple[np.ndarray, ...]  # the cell's arrays, in the trainer's dtypes
    alpha_start: float
    alpha_end: float
    seed: int


class CellTrainer(Protocol):
    """What a trainer gives the engine; it must pickle (it runs on executors)."""

    @property
    def in_width(self) -> int:
        """float32 values per input row."""
        ...

    @property
    def out_width(self) -> int:
        """float32 values per output row."""
        ...

    @property
    def data_dtypes(self) -> tuple[Any, ...]:
        """The dtypes of the cell's arrays (columns a, b, c)."""
        ...

    @property
    def stats(self) -> tuple[str, ...]:
        """The statistics ``train`` returns, summed over tasks."""
        ...

    def init_rows(self, ids: np.ndarray, side: int) -> np.ndarray:
        """The starting rows of ``ids`` on ``side`` (a function of the ids alone)."""
        ...

    def train(self, cell: Cell) -> dict[str, float]:
        """Train the cell, updating ``cell.in_vals`` and ``cell.out_vals`` in place; its statistics."""
        ...


@dataclass
class SubEpochResult:
    """One round of P sub-epochs: the tasks' summed statistics and its time."""

    epoch: int
    round: int
    stats: dict[str, float]
    seconds: float


# ---------------------------------------------------------------------------
# blocks as rows


def block_rows(side: int, block: int, ids: np.ndarray, vals: np.ndarray) -> Iterator[tuple[int, int, bytes, bytes]]:
    """One block's rows as (side, block, ids bytes, vals bytes), chunked under CHUNK_BYTES."""
    width = vals.shape[1] if vals.ndim == 2 else 1
    per_chunk = max(1, CHUNK_BYTES // max(4 * width, 1))
    for start in range(0, max(len(ids), 1), per_chunk):
        end = min(start + per_chunk, len(ids))
        yield (side, block, np.ascontiguousarray(ids[start:end], np.int32).tobytes(),
               np.ascontiguousarray(vals[start:end], np.float32).tobytes())  # fmt: skip


def gather_block(ids_parts: Sequence[bytes], vals_parts: Sequence[bytes], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate a block's chunks into (ids ascending, vals (n, width))."""
    ids = np.concatenate([np.frombuffer(b, np.int32) for b in ids_parts]) if ids_parts else np.zeros(0, np.int32)
    vals = np.concatenate([np.frombuffer(b, np.float32) for b in vals_parts]) if vals_parts else np.zeros(0, np.float32)
    vals = vals.reshape(len(ids), width)
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, vals = ids[order], vals[order]
    return np.ascontiguousarray(ids), np.array(vals, dtype=np.float32, copy=True)


def _block_records(side: int, block: int, task: int, ids: np.ndarray, vals: np.ndarray) -> Iterator[tuple[int, Any]]:
    """Ring records of one block's rows (chunked under CHUNK_BYTES), for ``task``."""
    kind = _KIND_IN if side == IN else _KIND_OUT
    for _, _, ids_b, vals_b in block_rows(side, block, ids, vals):
        yield task, (kind, block, -1, 0, ids_b, vals_b, None)


# The blocks are made or re-dealt inside the ring's own map over rows the JVM
# reads (``TaskRing.place(..., many=True)``): a DataFrame made by a Python
# function would have to be staged first, a Spark job and a disk copy of the
# whole model every epoch (docs/design.md, "Python over Python").


@dataclass(frozen=True)
class _InitRecords:
    """One ``spark.range(P)`` row per block: that block's starting rows, made on
    the executor, as records for the task that holds input block b in sub-epoch 0
    (output block b belongs with it then)."""

    trainer: CellTrainer
    assignment: Shared[np.ndarray]
    tasks: int

    def __call__(self, row: Any) -> Iterator[tuple[int, Any]]:
        b = int(row["id"])
        ids = np.flatnonzero(self.assignment.value == b).astype(np.int32)
        for side in (IN, OUT):
            yield from _block_records(side, b, b % self.tasks, ids, self.trainer.init_rows(ids, side))


@dataclass(frozen=True)
class _ReblockRecords:
    """A ``tables.BLOCKS`` row (a checkpoint's, or the held blocks' tuple) split by a new epoch's
    assignment, as records for the tasks that hold the new blocks in sub-epoch 0."""

    assignment: Shared[np.ndarray]
    widths: tuple[int, int]
    tasks: int

    def __call__(self, row: Any) -> Iterator[tuple[int, Any]]:
        side_, _, ids_b, vals_b = row  # a checkpoint's Row, or the held blocks' tuple (_block_row)
        side = int(side_)
        ids = np.frombuffer(ids_b, np.int32)
        vals = np.frombuffer(vals_b, np.float32).reshape(len(ids), self.widths[side])
        dest = self.assignment.value[ids]
        order = np.argsort(dest, kind="stable")
        bounds = np.flatnonzero(np.diff(dest[order])) + 1
        for part in np.split(order, bounds):
            if len(part):
                block = int(dest[part[0]])
                yield from _block_records(side, block, block % self.tasks, ids[part], vals[part])


# ---------------------------------------------------------------------------
# one sub-epoch


def ring_layout(blocks: int, slots: int) -> tuple[int, int]:
    """(tasks T, sub-epochs per step k) for ``blocks`` blocks on ``slots`` task slots.

    Task t holds the input blocks p ≡ t (mod T). When T divides P, the output
    blocks a task holds in sub-epoch s are those q ≡ t + s (mod T), which are
    also the ones its inputs need in sub-epochs s + T, s + 2T, ...: the task
    trains k = P / T sub-epochs before any block has to move, and a round takes
    T engine steps instead of P. Otherwise each step trains one sub-epoch.
    """
    tasks = max(1, min(blocks, slots))
    if blocks % tasks == 0:
        return tasks, blocks // tasks
    return tasks, 1


def step_subs(step: int, blocks: int, tasks: int, per_step: int) -> list[int]:
    """The sub-epochs (offsets within a round, in training order) that step ``step`` of a round trains."""
    if per_step == 1:
        return [step]
    return [step + j * tasks for j in range(per_step)]


@dataclass(frozen=True)
class _Step:
    """One task of one engine step (a :class:`TaskRing` step).

    Task ``t`` of ``T`` holds input blocks ``p ≡ t (mod T)``. The step
    trains the sub-epochs ``subs`` (offsets within the round, in order;
    see :func:`ring_layout`): in sub-epoch ``s`` input block ``p`` meets
    output block ``(p + s) mod P``, which the task holds for every ``s`` of
    the step. The cells of one sub-epoch share no row, so with ``threads``
    > 1 they train at once with the result of one after another. Then it
    emits its input blocks to itself and each output block to the task that
    holds it in the next step. The task's records include all of the epoch's
    cells of its input blocks (:func:`_cells_by_task`); it keeps its step's.

    Records are ``(task, (kind, block, sub, seq, a, b, c))``: for blocks
    ``a``/``b`` are the ids and values; for data ``block`` is the cell's input
    block, ``sub`` its sub-epoch within the epoch, and ``a``/``b``/``c`` the
    trainer's arrays.
    """

    trainer: CellTrainer
    epoch: int
    round_first: int  # the round's first sub-epoch within the epoch (round × P)
    subs: tuple[int, ...]  # offsets within the round
    alphas: tuple[tuple[float, float], ...]  # per sub-epoch of the step: learning rate at its start and end
    blocks: int
    tasks: int
    seed: int
    stats: dict[str, distributed.Total]
    threads: int = 1

    def __call__(self, records: Iterator[tuple[int, tuple[Any, ...]]]) -> Iterator[tuple[int, tuple[Any, ...]]]:
        task = -1
        ins: dict[int, tuple[list[bytes], list[bytes]]] = {}
        outs: dict[int, tuple[list[bytes], list[bytes]]] = {}
        data: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        wanted = {self.round_first + s for s in self.subs}
        moved = 0  # bytes through the shuffle for this step: its data (moved once, when cached) and the blocks sent on
        for key, record in records:
            task = key  # every record of a partition carries its task
            kind, block, sub, seq, a, b, c = record
            if kind == _KIND_DATA:
                if sub not in wanted:
                    continue  # another step's cell of the same input blocks
                if block % self.tasks != key:
                    raise RuntimeError(f"task {key} got the data of input block {block}, which task "
                                       f"{block % self.tasks} holds")  # fmt: skip
                data.setdefault((sub, block), []).append((seq, a, b, c))
                moved += sum(len(x) for x in (a, b, c) if x)
            else:
                parts = (ins if kind == _KIND_IN else outs).setdefault(block, ([], []))
                parts[0].append(a)
                parts[1].append(b)
        if task < 0:
            return
        in_blocks = {p: gather_block(*ins[p], self.trainer.in_width) for p in sorted(ins)}
        out_blocks = {q: gather_block(*outs[q], self.trainer.out_width) for q in sorted(outs)}
        for offset, (a0, a1) in zip(self.subs, self.alphas, strict=True):
            sub = self.round_first + offset
            cells = []
            for p, (in_ids, in_vals) in in_blocks.items():
                q = (p + offset) % self.blocks
                if q not in out_blocks:
                    raise RuntimeError(f"task {task} has input block {p} but not output block {q} (sub-epoch {sub})")
                out_ids, out_vals = out_blocks[q]
                cells.append(
                    Cell(self.epoch, sub, p, in_ids, in_vals, out_ids, out_vals, self._arrays(data.pop((sub, p), [])),
                         a0, a1, self.seed)
                )  # fmt: skip
            got = run_parallel([partial(self._train, cell) for cell in cells], self.threads)
            for results in got:
                for name, value in results.items():
                    if name in self.stats:
                        self.stats[name].add(value)
        for p, (ids_, vals_) in in_blocks.items():
            moved += ids_.nbytes + vals_.nbytes
            yield from _block_records(IN, p, task, ids_, vals_)
        last = self.subs[-1]
        for q, (ids_, vals_) in out_blocks.items():
            moved += ids_.nbytes + vals_.nbytes
            # Next step, block q is the output block of input block q - (last + 1).
            holder = (q - last - 1) % self.blocks % self.tasks
            yield from _block_records(OUT, q, holder, ids_, vals_)
        if "moved_bytes" in self.stats:
            self.stats["moved_bytes"].add(float(moved))

    def _arrays(self, rows: list[tuple[Any, ...]]) -> tuple[np.ndarray, ...]:
        # Chunks arrive in shuffle order; their sequence numbers restore the data's own order.
        rows.sort(key=lambda r: r[0])
        return tuple(
            np.concatenate([np.frombuffer(r[k + 1], dtype) for r in rows if r[k + 1]] or [np.zeros(0, dtype)])
            for k, dtype in enumerate(self.trainer.data_dtypes)
        )

    def _train(self, cell: Cell) -> dict[str, float]:
        t0 = time.perf_counter()
        got = self.trainer.train(cell)
        got["kernel_seconds"] = time.perf_counter() - t0
        got["nonfinite"] = float((~np.isfinite(cell.in_vals)).sum() + (~np.isfinite(cell.out_vals)).sum())
        return got


@dataclass(frozen=True)
class _BlockRecord:
    """A ``tables.BLOCKS`` row (or tuple in its order) at an epoch's start, to
    its task: in sub-epoch 0 output block b belongs with input block b."""

    tasks: int

    def __call__(self, row: Any) -> tuple[int, tuple[Any, ...]]:
        side, block_, ids, vals = row  # a checkpoint's Row, or the held blocks' tuple (_block_row)
        kind = _KIND_IN if side == IN else _KIND_OUT
        block = int(block_)
        return block % self.tasks, (kind, block, -1, 0, ids, vals, None)


@dataclass(frozen=True)
class _DataRecord:
    """A cells row (CELLS_DDL, or a tuple in its order) to the task that holds its input block."""

    tasks: int

    def __call__(self, row: Any) -> tuple[int, tuple[Any, ...]]:
        block, sub, seq, a, b, c = row
        return int(block) % self.tasks, (_KIND_DATA, int(block), int(sub), int(seq), a, b, c)


def _block_row(record: tuple[int, tuple[Any, ...]]) -> tuple[int, int, bytes, bytes]:
    _, (kind, block, _, _, ids, vals, _) = record
    return (IN if kind == _KIND_IN else OUT), block, ids, vals


def _cells_by_task(ring: TaskRing, cells: DataFrame | RDD[Any]) -> Any:
    """The epoch's cells as ring records, each in the partition of the task
    that trains it, cached on the executors.

    Every step unions this cache with the ring's blocks. Both are laid out by
    the ring's partitioner, so the union is narrow: a step reads its task's
    cells where they are cached and keeps its own sub-epochs' (scanning the
    epoch's cells of its input blocks once per step). Reading each step's
    cells from a cached DataFrame instead, through a filter and a shuffle to
    their tasks, cost 6 task-seconds a round of 10 s at 8 blocks on 2 cores.
    """
    # The trainers' cells come as an RDD over cached rows; cells given as a
    # DataFrame (bench.rotation_overhead's) may be made by a Python function: staged first.
    placed = ring.place(cells, _DataRecord(ring.tasks), stage=isinstance(cells, DataFrame))
    cached = placed.persist(StorageLevel.MEMORY_AND_DISK)
    cached.count()
    return cached


# ---------------------------------------------------------------------------
# the loop


@dataclass
class RotationPlan:
    """A trainer's run under rotation, as the engine needs it."""

    model: str
    trainer: CellTrainer
    blocks: int
    epochs: int
    seed: int
    # epoch -> block of every word (V int32), re-drawn or fixed by the trainer.
    assignment: Callable[[int], np.ndarray]
    # (epoch, broadcast assignment) -> that epoch's cells: CELLS_DDL rows, or
    # an RDD of tuples in their order (no conversion of rows to Python objects).
    cells: Callable[[int, Shared[np.ndarray]], DataFrame | RDD[Any]]
    # (epoch, sub) -> (alpha at the sub-epoch's start, at its end); constant for AdaGrad.
    learning_rate: Callable[[int, int], tuple[float, float]]
    loss_stat: str
    count_stat: str
    work_units: str
    advice: str
    # Rounds per epoch: each round is P sub-epochs over 1/rounds of the epoch's
    # data, so a row meets each output block in `rounds` short bursts instead of
    # one long one. A round is one Spark job: its engine steps are chained.
    rounds: int = 1
    # Cores of each task (spark.task_cpus): its cells train on that many threads.
    task_cpus: int = 1
    history: list[SubEpochResult] = field(default_factory=list)


def train_with_rotation(
    spark: SparkSession,
    plan: RotationPlan,
    *,
    start_epoch: int,
    state: DataFrame | None,
    on_epoch_end: Callable[[int, DataFrame, list[float]], DataFrame | None],
    health: Health,
) -> DataFrame:
    """Train ``plan.epochs`` epochs of ``plan.blocks`` sub-epochs; the final blocks.

    ``state`` holds the blocks to start from (a checkpoint), or None for
    fresh ones. ``on_epoch_end(epoch, blocks, sub_epoch_losses)`` records the
    epoch and, when a checkpoint is due, writes it and returns the blocks
    read back from it; None means no checkpoint, and the next epoch starts
    from the blocks the tasks hold. It must checkpoint the last epoch: the
    final blocks are that checkpoint's.

    Raises
    ------
    DivergenceError
        From ``health``: non-finite parameters, or a loss that ran away.
    """
    P = plan.blocks
    names = tuple(dict.fromkeys((*plan.trainer.stats, "nonfinite", "kernel_seconds", "moved_bytes")))
    stats = distributed.totals(spark, *names)
    cores = training_cores(spark, plan.task_cpus)
    tasks, per_step = ring_layout(P, cores.slots)
    per_round = P // per_step  # engine steps per round
    ring = TaskRing(spark, tasks, cores.profile)
    t_start = time.perf_counter()
    total = (plan.epochs - start_epoch) * plan.rounds
    done = 0
    assignment: Shared[np.ndarray] | None = None
    previous: np.ndarray | None = None
    # The blocks to start an epoch from: a checkpoint's rows, or the rows of
    # the blocks the tasks hold when no checkpoint was written in between.
    start: DataFrame | RDD[Any] | None = state
    cells: Any = None  # the epoch's cells by task (_cells_by_task)
    # Adaptive execution would run every shuffle of the engine's DataFrames
    # (the epoch's cells, the checkpoint) as a Spark job of its own, about 5
    # more jobs an epoch, and the engine's partitioning is set by hand anyway.
    with distributed.session_conf(spark, "spark.sql.adaptive.enabled", "false"):
        try:
            for epoch in range(start_epoch, plan.epochs):
                block_of = plan.assignment(epoch)
                # A re-draw can give the same assignment (always, at one block):
                # then the cached cells, which were made with the shared one, stay
                # valid, and that broadcast must outlive them.
                changed = previous is None or not np.array_equal(previous, block_of)
                if changed:
                    if cells is not None:
                        cells.unpersist()
                    if assignment is not None:
                        assignment.release()
                    assignment = share(spark, block_of.astype(np.int32))
                assert assignment is not None
                if changed or cells is None:
                    # Made once per assignment (GloVe's per_run: once a run), kept on the executors.
                    cells = _cells_by_task(ring, plan.cells(epoch, assignment))
                previous = block_of
                # The blocks: made, re-dealt from the rows they start from, or those rows as they are.
                if start is None:
                    blocks = spark.range(P, numPartitions=P)
                    held = ring.place(blocks, _InitRecords(plan.trainer, assignment, ring.tasks), many=True)
                elif changed:
                    widths = (plan.trainer.in_width, plan.trainer.out_width)
                    held = ring.place(start, _ReblockRecords(assignment, widths, ring.tasks), many=True)
                else:
                    held = ring.place(start, _BlockRecord(ring.tasks))
                epoch_losses: list[float] = []
                for rnd in range(plan.rounds):
                    t0 = time.perf_counter()
                    for s in stats.values():
                        s.reset()
                    for i in range(per_round):
                        subs = step_subs(i, P, ring.tasks, per_step)
                        held = ring.add(held, cells)
                        order = [rnd * P + i * per_step + j for j in range(len(subs))]
                        alphas = tuple(plan.learning_rate(epoch, k) for k in order)
                        a1 = alphas[-1][1]
                        step = _Step(plan.trainer, epoch, rnd * P, tuple(subs), alphas, P, ring.tasks, plan.seed, stats,
                                     cores.cpus)  # fmt: skip
                        # Lazy: the round's steps run as one Spark job.
                        held = ring.step(held, step)
                    held = ring.settle(held)
                    got = {k: v.value for k, v in stats.items()}
                    done += 1
                    _progress(plan, epoch, rnd, got, time.perf_counter() - t0, t_start, done, total, a1)
                    epoch_losses.append(health.check(plan.model, epoch, got, plan.loss_stat, plan.count_stat))
                health.epoch_done(epoch_losses)
                saved = on_epoch_end(epoch, ring.frame(held, _block_row, tables.BLOCKS), epoch_losses)
                # Without a checkpoint the held blocks stay settled on the executors until the
                # next epoch's first round has settled the blocks made from them.
                start = held.map(_block_row) if saved is None else saved
        finally:
            ring.release()
            if cells is not None:
                cells.unpersist()
            if assignment is not None:
                assignment.release()
    if not isinstance(start, DataFrame):
        raise RuntimeError("on_epoch_end must checkpoint the last epoch: the final blocks are read from it")
    return start


def _progress(
    plan: RotationPlan, epoch: int, rnd: int, got: dict[str, float], seconds: float, t_start: float,
    done: int, total: int, alpha: float,
) -> None:  # fmt: skip
    plan.history.append(SubEpochResult(epoch, rnd, got, seconds))
    elapsed = time.perf_counter() - t_start
    eta = elapsed / max(done, 1) * (total - done)
    loss = got.get(plan.loss_stat, 0.0) / max(got.get(plan.count_stat, 0.0), 1.0)
    rate = got.get(plan.count_stat, 0.0) / max(seconds, 1e-9)
    # Task-seconds in the kernels over the round's wall time: how busy the cores were.
    busy = got.get("kernel_seconds", 0.0) / max(seconds, 1e-9)
    log.info(
        "%s epoch %d/%d round %d/%d (%d sub-epochs) | %5.1f%% | %s %s/s | lr %.5f | loss %.5f | kernels %.1f cores"
        " | elapsed %s | ETA %s",
        plan.model, epoch + 1, plan.epochs, rnd + 1, plan.rounds, plan.blocks,
        100.0 * (epoch * plan.rounds + rnd + 1) / (plan.epochs * plan.rounds),
        format_rate(rate), plan.work_units, alpha, loss, busy, format_duration(elapsed), format_duration(eta),
    )  # fmt: skip


@dataclass(frozen=True)
class _Explode:
    """mapInArrow: one (id, vector) row per word of one side, the first ``dim`` values of each row."""

    side: int
    width: int
    dim: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for s, ids_b, vals_b in zip(
                batch.column("side").to_pylist(),
                batch.column("ids").to_pylist(),
                batch.column("vals").to_pylist(),
                strict=True,
            ):
                if s != self.side:
                    continue
                ids = np.frombuffer(ids_b, np.int32)
                rows = np.frombuffer(vals_b, np.float32).reshape(len(ids), self.width)
                flat = np.ascontiguousarray(rows[:, : self.dim]).reshape(-1)
                offsets = np.arange(0, len(ids) * self.dim + 1, self.dim, dtype=np.int32)
                vectors = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float32()))
                yield pa.RecordBatch.from_arrays([pa.array(ids), vectors], names=["id", "vector"])


def vector_rows(blocks: DataFrame, dim: int, width: int, output: str) -> DataFrame:
    """The trained vectors (``id int, vector array<float>``) from the blocks, on the executors.

    ``output``: ``in``/``word`` the input rows; ``sum``/``in+out`` input plus
    output rows; ``concat`` both side by side.
    """
    ddl = "id int, vector array<float>"
    rows_in = blocks.mapInArrow(_Explode(IN, width, dim), ddl)
    if output in ("in", "word"):
        return rows_in
    rows_out = blocks.mapInArrow(_Explode(OUT, width, dim), ddl).withColumnRenamed("vector", "other")
    both = rows_in.join(rows_out, "id")
    if output == "concat":
        return both.select("id", F.concat("vector", "other").alias("vector"))
    return both.select("id", F.zip_with("vector", "other", lambda x, y: x + y).alias("vector"))
