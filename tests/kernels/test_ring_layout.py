"""The rotation engine's schedule: which task trains which cell in which step (no Spark)."""

from __future__ import annotations

import pytest

from embedpipe.training.rotation import ring_layout, step_subs

LAYOUTS = [(1, 2), (2, 2), (4, 2), (8, 2), (32, 2), (32, 8), (3, 2), (6, 4), (5, 8)]


@pytest.mark.parametrize(("blocks", "slots"), LAYOUTS)
def test_every_cell_is_trained_once_a_round_by_the_task_that_holds_both_its_blocks(blocks, slots):
    tasks, per_step = ring_layout(blocks, slots)
    assert 1 <= tasks <= min(blocks, slots)
    steps = blocks // per_step
    # At a round's start output block q sits with input block q.
    holder_of_out = {q: q % tasks for q in range(blocks)}
    trained = []
    for i in range(steps):
        subs = step_subs(i, blocks, tasks, per_step)
        for s in subs:
            cells = [(p, (p + s) % blocks) for p in range(blocks)]
            # No two cells of a sub-epoch share a row ...
            assert len({q for _, q in cells}) == blocks
            for p, q in cells:
                # ... and each is trained where both its blocks are.
                assert holder_of_out[q] == p % tasks, (i, s, p, q)
            trained += cells
        # After the step every output block goes to the task that needs it next.
        holder_of_out = {q: (q - subs[-1] - 1) % blocks % tasks for q in range(blocks)}
    assert sorted(trained) == sorted((p, q) for p in range(blocks) for q in range(blocks))
    # The next round starts where this one started.
    assert holder_of_out == {q: q % tasks for q in range(blocks)}


def test_a_task_count_that_divides_the_blocks_trains_a_round_in_as_many_steps_as_tasks():
    assert ring_layout(32, 2) == (2, 16)
    assert ring_layout(8, 2) == (2, 4)
    assert ring_layout(2, 2) == (2, 1)
    # 3 blocks on 2 slots: no block layout lets a task hold its next outputs, so one sub-epoch a step.
    assert ring_layout(3, 2) == (2, 1)
    assert step_subs(1, 32, 2, 16) == list(range(1, 32, 2))
