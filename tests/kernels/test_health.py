"""The training health check: what stops a run, and what does not (no Spark)."""

from __future__ import annotations

import pytest

from embedpipe.errors import DivergenceError
from embedpipe.training.loop import RISING_EPOCHS, RISING_MARGIN, RUNAWAY_FACTOR, Health


def health() -> Health:
    return Health("Lower glove.learning_rate.", lambda: "The last good checkpoint is kept.")


def step(h: Health, loss: float, n: float = 100.0, nonfinite: float = 0.0, epoch: int = 0) -> float:
    return h.check("glove", epoch, {"cost": loss * n, "entries": n, "nonfinite": nonfinite}, "cost", "entries")


def test_a_healthy_run_passes_and_gets_its_mean_loss_back():
    h = health()
    assert step(h, 0.5) == pytest.approx(0.5)
    for epoch, loss in enumerate([0.4, 0.3, 0.35, 0.2, 0.1]):
        step(h, loss, epoch=epoch)
        h.epoch_done([loss])


def test_nan_or_infinite_parameters_stop_with_the_advice_and_the_checkpoint():
    message = (
        r"glove training diverged in epoch 3: parameters became NaN or infinite\. "
        r"Lower glove\.learning_rate\. The last good checkpoint is kept\."
    )
    with pytest.raises(DivergenceError, match=message):
        step(health(), 0.5, nonfinite=4, epoch=2)
    with pytest.raises(DivergenceError, match="NaN or infinite"):
        step(health(), float("inf"))


def test_a_loss_that_runs_away_stops_though_every_number_is_finite():
    h = health()
    step(h, 0.08)
    step(h, 0.08 * RUNAWAY_FACTOR * 0.99)  # high, but not yet runaway
    with pytest.raises(DivergenceError, match=r"the loss ran away to 1e\+08, .*× its first value 0\.08"):
        step(h, 1e8)


def test_a_loss_rising_epoch_after_epoch_stops():
    h = health()
    step(h, 1.0)
    means = [1.0, 1.1, 1.2, 1.3, 1.4]
    for m in means[:RISING_EPOCHS]:
        h.epoch_done([m])
    with pytest.raises(DivergenceError, match=rf"the loss rose for {RISING_EPOCHS} epochs in a row"):
        h.epoch_done([means[RISING_EPOCHS]])


def test_skip_gram_late_epoch_creep_is_not_divergence():
    # The epoch losses of a healthy one-replica skip-gram run on wiki17m: the
    # sampled loss creeps up as the learning rate decays.
    h = health()
    for m in [2.2560, 2.1499, 2.1507, 2.1680, 2.2026]:
        h.epoch_done([m])


def test_a_rise_just_over_the_margin_over_rising_epochs_stops():
    h = health()
    start = 1.0
    rises = [start * (1 + RISING_MARGIN * 1.01 * k / RISING_EPOCHS) for k in range(RISING_EPOCHS + 1)]
    for m in rises[:-1]:
        h.epoch_done([m])
    with pytest.raises(DivergenceError, match="rose for"):
        h.epoch_done([rises[-1]])


def test_one_rising_epoch_is_not_enough():
    h = health()
    for m in [1.0, 0.9, 1.0, 0.8, 0.85, 0.7]:
        h.epoch_done([m])


def test_a_run_that_blows_up_within_its_first_round_is_caught_by_the_untrained_loss():
    h = Health("Lower glove.learning_rate.", lambda: "", reference=0.2)
    step(h, 0.19)  # a healthy start is about the untrained model's loss
    with pytest.raises(DivergenceError, match=r"the loss ran away to 8\.7e\+07, .*× the untrained model's 0\.2"):
        step(Health("", lambda: "", reference=0.2), 8.7e7)  # already huge in the first round
