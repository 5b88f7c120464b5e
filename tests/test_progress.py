"""The live progress display of group commands: per epoch, across trainings, with ETA."""

from __future__ import annotations

import pytest

from qmoe_cli.progress import TrainingProgress


def _state(p: TrainingProgress):
    task = p.bar.tasks[0]
    return task.completed, task.total, task.fields["trainings"], task.fields["latest"]


def test_the_bar_moves_per_epoch_and_counts_early_stops_as_done():
    p = TrainingProgress("group", [3, 5])
    assert _state(p) == (0, 8, "0/2 trainings", "")
    p.epoch(1, {"train_loss": 0.5, "val_acc": 0.75})
    assert _state(p) == (1, 8, "0/2 trainings", "loss 0.500 val acc 0.750")
    p.epoch(0, {"train_loss": 0.25, "val_acc": 0.9})
    p.done(0)  # trained its 1 epoch of 3 and stopped early: the other 2 count as done
    assert _state(p)[:3] == (4, 8, "1/2 trainings")
    for _ in range(4):
        p.epoch(1, {"train_loss": 0.1, "val_acc": 1.0})
    p.done(1)
    assert _state(p)[:3] == (8, 8, "2/2 trainings")
    columns = [type(c).__name__ for c in p.bar.columns]
    assert "TimeRemainingColumn" in columns and "TimeElapsedColumn" in columns


@pytest.mark.slow
def test_ablate_reports_every_epoch_to_the_display(cli, write_config, tmp_path, monkeypatch):
    """With worker processes too: each epoch of each training reaches the parent's bar."""
    from tests.conftest import TINY

    seen = []
    real = TrainingProgress.epoch
    monkeypatch.setattr(
        TrainingProgress, "epoch", lambda self, i, row: (seen.append(i), real(self, i, row))
    )
    config = write_config(
        {
            **{k: v for k, v in TINY.items() if k != "model"},
            "kind": "ablate",
            "model": {"experts": {"count": 2}},
            "train": {"epochs": 4, "batch_size": 16},
            "seeds": [0, 1],
            "reference": "A",
            "variants": {"A": {"router": {"type": "linear"}}, "C": {"router": {"type": "mlp"}}},
        }
    )
    result = cli("ablate", config, "--out", tmp_path / "runs", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert sorted(seen) == sorted([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)
