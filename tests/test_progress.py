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


def test_a_slow_epoch_moves_the_bar_by_batches_and_says_what_it_does():
    """A wide circuit's epoch takes minutes: phase rows and batch rows keep the display
    moving, and the epochs still add up to the total."""
    p = TrainingProgress("wide", [2])
    p.epoch(0, {"phase": "seed 0: data, model, rank at init"})
    assert _state(p) == (0, 2, "0/1 trainings", "seed 0: data, model, rank at init")
    p.epoch(0, {"epoch": 1, "batch": 1, "batches": 4})
    assert _state(p)[0] == 0.25 and _state(p)[3] == "epoch 1: batch 1/4"
    p.epoch(0, {"epoch": 1, "batch": 3, "batches": 4})
    p.epoch(0, {"train_loss": 0.5, "val_acc": 0.75})
    assert _state(p)[0] == 1.0
    p.epoch(0, {"epoch": 2, "batch": 2, "batches": 4})
    p.done(0)  # stopped early half-way through the second epoch's batches
    assert _state(p)[:3] == (2.0, 2, "1/1 trainings")


def test_fit_reports_batches_only_when_an_epoch_is_slow(monkeypatch):
    from qmoe_cli.config import ExperimentConfig
    from qmoe_cli.training import sequential as training
    from qmoe_cli.training.seeds import run_seed
    from tests.conftest import TINY

    cfg = ExperimentConfig.model_validate({**TINY, "train": {"epochs": 2, "batch_size": 16}})
    rows = []
    run_seed(cfg, 0, rows.append)
    kinds = [next(k for k in ("phase", "batch", "epoch") if k in r) for r in rows]
    assert kinds == ["phase", "epoch", "epoch", "phase"]  # fast: no batch rows
    monkeypatch.setattr(training, "BATCH_REPORT_SECONDS", -1.0)  # every batch is "slow"
    rows.clear()
    run_seed(cfg, 0, rows.append)
    batches = [r for r in rows if "batch" in r]
    n_batches = batches[0]["batches"]
    assert [r["batch"] for r in batches] == list(range(n_batches)) * 2
    assert [r["epoch"] for r in rows if "train_loss" in r] == [1, 2]


def test_a_command_with_stdout_closed_still_runs(tmp_path, write_config):
    """`qmoe ... >&-`: sys.stdout is None; the tables go nowhere, the run is written."""
    import os
    import subprocess
    import sys

    out = tmp_path / "runs"
    for args in (["validate", write_config()], ["train", write_config(), "--out", out]):
        done = subprocess.run(
            [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
            preexec_fn=lambda: os.close(1),
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert len(list(out.iterdir())) == 1


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
