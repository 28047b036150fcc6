"""How the replicas' rows are merged after an averaging round.

Merge rules (``merge``), with Δ_p = replica p's row minus the broadcast row:

``average``
    Each touched row becomes the mean of the replicas that touched it: Spark
    MLlib Word2Vec's rule, and GloVe's here. Summing instead of averaging
    diverges (SPARK-24666).
``touch_weighted``
    Each replica's change to a row is weighted by how many updates it made
    to that row.
``clipped_sum`` (skip-gram's default)
    ``old + s·Σ_p Δ_p`` with ``s = min(1, max(F, max_p ‖Δ_p‖_C) / ‖Σ_p Δ_p‖_C)``,
    ``F`` = :func:`clipped_sum_floor` logits, where ``‖x‖_C`` is the RMS change
    of the row's logits against the other matrix's rows. Rows that replicas
    moved only a little keep the *sum* of the changes (what sequential SGD
    over all their data would make); rows each replica already moved a lot
    are capped near the average, so the sum cannot overshoot. See :func:`merge_replicas`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from embedpipe.kernels.merge import group_changes
from embedpipe.training.loop import ParamGroup

MergeRule = Literal["average", "touch_weighted", "clipped_sum"]


def row_width(state: Mapping[str, np.ndarray], group: ParamGroup) -> int:
    return sum(int(np.prod(state[p].shape[1:], dtype=np.int64)) if state[p].ndim > 1 else 1 for p in group.params)


def pack_rows(state: Mapping[str, np.ndarray], group: ParamGroup, rows: np.ndarray) -> np.ndarray:
    cols = [state[p][rows].reshape(len(rows), -1).astype(np.float32, copy=False) for p in group.params]
    return np.hstack(cols) if len(cols) > 1 else cols[0]


def unpack_rows(state: dict[str, np.ndarray], group: ParamGroup, rows: np.ndarray, values: np.ndarray) -> None:
    at = 0
    for p in group.params:
        width = int(np.prod(state[p].shape[1:], dtype=np.int64)) if state[p].ndim > 1 else 1
        block = values[:, at : at + width]
        state[p][rows] = block.reshape((len(rows), *state[p].shape[1:])).astype(state[p].dtype, copy=False)
        at += width


def concat_bytes(column: pa.ChunkedArray | pa.Array, dtype: type) -> np.ndarray:
    """The chunks of one binary column as one numpy array of ``dtype``."""
    parts: list[np.ndarray] = [np.frombuffer(b, dtype=dtype) for b in column.to_pylist() if b]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def clipped_sum_floor(partitions: int) -> float:
    """How far (RMS logits) a ``clipped_sum`` merge may always move a row:
    ``max(1, 8 / partitions)``, so 4 at 2 partitions, 2 at 4, 1 from 8 on.

    Below the floor the replicas' changes add up as sequential SGD's would.
    A higher floor helps few partitions and costs SimLex-999 at many, which is
    why it falls with the partition count
    (bench/results/floor-2026-11-28, docs/design.md).
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return max(1.0, 8.0 / partitions)


def _logit_norm(x: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """Per row of ``x``: sqrt(x · metric · x), the RMS change of the dot products
    with partner rows whose second moment is ``metric``."""
    # float32 for the (replica rows × width) products: this is a clipping
    # threshold, and float64 copies of every returned row cost more than the merge.
    m = metric.astype(x.dtype, copy=False)
    return np.sqrt(np.maximum(np.einsum("ij,ij->i", x @ m, x, dtype=np.float64), 0.0))


def clipped_sum_scale(
    deltas: np.ndarray, starts: np.ndarray, summed: np.ndarray, metric: np.ndarray, floor: float
) -> np.ndarray:
    """Per merged row, the factor applied to the summed change under ``clipped_sum``.

    ``deltas`` are the replicas' changes, grouped by merged row (row ``i``'s
    start at ``starts[i]``), ``summed`` their per-row sums. The merged change
    may move the row's logits (RMS over partners, see :func:`_logit_norm`) by
    at most ``max(floor, largest single replica's move)``; the factor is 1
    when the sum stays inside that and ``limit / move`` otherwise.
    """
    move = _logit_norm(summed.astype(np.float32), metric)
    single = np.maximum.reduceat(_logit_norm(deltas, metric), starts)
    limit = np.maximum(single, floor)
    return np.minimum(1.0, limit / np.maximum(move, 1e-300))


@dataclass
class _GroupRows:
    """One group's replica rows grouped by row id, with their changes and per-row sums."""

    rows: np.ndarray      # merged row ids (the rows some replica touched)
    n_by: np.ndarray      # replicas per merged row
    touches: np.ndarray   # total touches per merged row
    starts: np.ndarray    # merged row i's replica rows start at starts[i]
    old: np.ndarray       # (len(rows), width) float32 values before the round
    deltas: np.ndarray    # (replica rows, width) float32 change each replica made (clipped_sum only)
    weights: np.ndarray   # per replica row: its touch count
    summed: np.ndarray    # (len(rows), width) sum of the changes per merged row
    weighted: np.ndarray  # (len(rows), width) touch-weighted sum of the changes (touch_weighted only)


def _collect(
    state: Mapping[str, np.ndarray], g: ParamGroup, replicas: pa.Table, mask: np.ndarray, rule: MergeRule
) -> _GroupRows:
    sub = replicas.filter(pa.array(mask))
    rows = concat_bytes(sub.column("rows"), np.int32)
    touches = concat_bytes(sub.column("touches"), np.int64).astype(np.float64)
    width = row_width(state, g)
    values = concat_bytes(sub.column("values"), np.float32).reshape(len(rows), width)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    hit = sorted_rows[starts]
    old = pack_rows(state, g, hit)
    deltas, summed, weighted = group_changes(
        order, starts, values, touches, old, rule == "clipped_sum", rule == "touch_weighted"
    )
    sorted_touches = touches[order]
    return _GroupRows(
        rows=hit,
        n_by=np.diff(np.r_[starts, len(rows)]),
        touches=np.add.reduceat(sorted_touches, starts),
        starts=starts,
        old=old,
        deltas=deltas,
        weights=sorted_touches,
        summed=summed,
        weighted=weighted,
    )


def _second_moment(r: _GroupRows | None, width: int) -> np.ndarray:
    """Touch-weighted second moment of a group's touched rows after the round
    (old + mean change); zero if the group was not touched."""
    if r is None:
        return np.zeros((width, width))
    # float32 (sgemm): a clipping threshold needs no float64, and the
    # float64 product of two (rows × width) copies cost up to a second.
    after = (r.old + r.summed / r.n_by[:, None]).astype(np.float32)
    share_of_touches = (r.touches / max(float(r.touches.sum()), 1.0)).astype(np.float32)
    return ((after * share_of_touches[:, None]).T @ after).astype(np.float64)


def _partner_metrics(
    groups: Sequence[ParamGroup], got: Mapping[str, _GroupRows], width: int, pool: ThreadPoolExecutor
) -> dict[str, np.ndarray]:
    """For a model of two matrices (skip-gram's w_in and w_out): each group's
    metric is the second moment (:func:`_second_moment`) of the other group's
    touched rows, i.e. of the partners its dot products were trained against."""
    if len(groups) != 2 or any(len(g.params) != 1 for g in groups):
        raise ValueError("merge rule clipped_sum needs exactly two one-matrix groups (skip-gram's in and out)")
    a, b = groups[0].name, groups[1].name
    second_a, second_b = pool.map(lambda name: _second_moment(got.get(name), width), (a, b))
    return {a: second_b, b: second_a}


def merge_replicas(
    state: dict[str, np.ndarray],
    groups: Sequence[ParamGroup],
    replicas: pa.Table,
    rule: MergeRule,
    *,
    floor: float = 1.0,
) -> dict[str, np.ndarray]:
    """Merge the touched rows sent back by the partitions into ``state`` in place.

    Only rows some replica touched change; each is merged over the replicas
    that touched it, with Δ_p = (replica p's row) - (broadcast row):

    ``average``         new = old + mean_p Δ_p          (= mean of the replicas' rows)
    ``touch_weighted``  new = old + Σ_p t_p Δ_p / Σ_p t_p  (t_p: p's touches of the row)
    ``clipped_sum``     new = old + s · Σ_p Δ_p,  s = min(1, max(F, max_p ‖Δ_p‖_C) / ‖Σ_p Δ_p‖_C)

    ``clipped_sum`` (skip-gram only): ``‖x‖_C = sqrt(x·C·x)`` with ``C`` the
    touch-weighted second moment of the *other* matrix's touched rows after
    the round, so ``‖Δ‖_C`` is the RMS change Δ makes to the row's logits (its
    dot products with the partners it trains against). Why: a row a replica
    moved only a little was in the linear regime, where sequential SGD over
    all replicas' data makes the *sum* of their changes; averaging gives it
    1/n of that, which is why frequent words learn too slowly. A row whose
    replicas each moved its logits a lot has saturated (each went most of the
    way to the same place); the sum would overshoot n-fold and diverge. So
    the sum is kept but capped at the largest single replica's logit move or
    F = ``floor`` logit units, whichever is larger: the plain sum for linear
    rows, about the average for saturated ones. Training passes
    :func:`clipped_sum_floor` of the partition count and pairs it with
    max(4 × P, P²) rounds per epoch for P partitions (``sgns.sync_rounds`` auto).

    Returns, per group, how many partitions touched each row (0 = untouched).
    """
    replicas = replicas.combine_chunks()
    group_col = replicas.column("group").to_numpy(zero_copy_only=False)
    present = [g for g in groups if (group_col == g.name).any()]

    def finish(g: ParamGroup) -> np.ndarray:
        n_rows = state[g.params[0]].shape[0]
        r = got.get(g.name)
        if r is None:
            return np.zeros(n_rows, dtype=np.int64)
        if rule == "average":
            new = r.old + r.summed / r.n_by[:, None]
        elif rule == "touch_weighted":
            new = r.old + r.weighted / np.maximum(r.touches, 1.0)[:, None]
        elif rule == "clipped_sum":
            scale = clipped_sum_scale(r.deltas, r.starts, r.summed, metrics[g.name], floor)
            new = r.old + r.summed * scale[:, None]
        else:  # pragma: no cover - validated by config
            raise ValueError(f"unknown merge rule {rule!r}; use average, touch_weighted or clipped_sum")
        unpack_rows(state, g, r.rows, new)
        return np.bincount(r.rows, weights=r.n_by, minlength=n_rows).astype(np.int64)

    # Groups own disjoint parameters, so their merges are independent except
    # for clipped_sum's partner metrics. The executors sit idle during the
    # merge and its heavy parts (the numba grouping kernel, Arrow filters,
    # numpy on whole blocks) release the GIL, so one thread per group lets the
    # driver use the idle cores; the result does not depend on the threads.
    with ThreadPoolExecutor(max_workers=max(len(groups), 1), thread_name_prefix="embedpipe-merge") as pool:
        collected = pool.map(lambda g: _collect(state, g, replicas, group_col == g.name, rule), present)
        got: dict[str, _GroupRows] = dict(zip((g.name for g in present), collected, strict=True))
        metrics = _partner_metrics(groups, got, row_width(state, groups[0]), pool) if rule == "clipped_sum" else {}
        return dict(zip((g.name for g in groups), pool.map(finish, groups), strict=True))


