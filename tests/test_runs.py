import json
from pathlib import Path

import pytest
import torch
import yaml

from qmoe_cli import training
from qmoe_cli.config import validate_config
from qmoe_cli.errors import RunFolderError
from qmoe_cli.runs import RunFolder, is_complete_run, read_csv
from qmoe_cli.training import stacked

from .conftest import TINY, run_qmoe


def _only_run(out):
    runs = [p for p in out.iterdir() if is_complete_run(p)]
    assert len(runs) == 1, list(out.iterdir())
    return runs[0]


def test_train_writes_a_complete_readable_run_folder(tmp_path, write_config, cli):
    cfg = write_config({**TINY, "seeds": [0, 1]})
    result = cli("train", cfg, "--out", tmp_path / "runs", "--set", "train.epochs=4")
    assert result.exit_code == 0, result.output
    run = _only_run(tmp_path / "runs")
    assert f"run folder: {run}" in result.output.replace("\n", "")
    for name in (
        "config.yaml",
        "env.json",
        "metrics.json",
        "summary.csv",
        "decision_boundary.png",
        "routing.png",
    ):
        assert (run / name).is_file(), name
    resolved = validate_config(yaml.safe_load((run / "config.yaml").read_text()))
    assert resolved.train.epochs == 4 and resolved.seeds == [0, 1]
    env = json.loads((run / "env.json").read_text())
    assert {"python", "packages", "git", "host", "command"} <= set(env)
    assert "torch" in env["packages"]
    metrics = json.loads((run / "metrics.json").read_text())
    rows = read_csv(run / "summary.csv")
    assert [int(r["seed"]) for r in rows] == [0, 1]
    for row, seed_metrics in zip(rows, metrics["per_seed"], strict=True):
        assert float(row["test_accuracy"]) == seed_metrics["test_accuracy"]
    for seed in (0, 1):
        sub = run / f"seed-{seed}"
        history = read_csv(sub / "history.csv")
        assert len(history) == json.loads((sub / "metrics.json").read_text())["epochs_run"]
        assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(history[0])
        state = torch.load(sub / "model.pt", weights_only=True)
        assert "router.linear.weight" in state and "experts.linear.weight" in state


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_interrupted_run_leaves_nothing_that_looks_complete(
    tmp_path, write_config, cli, monkeypatch, engine
):
    def crash(*args):
        if args[-1]["epoch"] == 2:  # (row) from training.fit, (model index, row) stacked
            raise RuntimeError("simulated crash mid-training")

    if engine == "sequential":
        original = training.fit
        monkeypatch.setattr(
            "qmoe_cli.training.seeds.fit",
            lambda model, splits, cfg, seed, on_epoch=None: original(
                model, splits, cfg, seed, crash
            ),
        )
    else:
        original = stacked.fit_stacked
        monkeypatch.setattr(
            "qmoe_cli.training.stacked.fit_stacked",
            lambda models, model_cfg, splits, cfg, seeds, on_epoch=None: original(
                models, model_cfg, splits, cfg, seeds, crash
            ),
        )
    out = tmp_path / "runs"
    result = cli("train", write_config(), "--out", out, "--set", f"train.engine={engine}")
    assert result.exit_code != 0
    assert not [p for p in out.iterdir() if is_complete_run(p)]
    failed = [p for p in out.iterdir() if p.name.endswith(".failed")]
    assert len(failed) == 1 and "simulated crash" in (failed[0] / "error.txt").read_text()
    assert (failed[0] / "config.yaml").is_file()  # what was written is kept


def test_killed_process_leaves_only_a_hidden_tmp_folder(tmp_path, write_config):
    import signal
    import subprocess
    import sys
    import time

    cfg = write_config(
        {**TINY, "data": {"n_samples": 2000}, "train": {"epochs": 10000, "early_stopping": False}}
    )
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qmoe_cli.cli", "train", str(cfg), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and any(out.iterdir())):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entries = list(out.iterdir())
    assert entries and all(p.name.startswith(".") and p.name.endswith(".tmp") for p in entries)
    assert not [p for p in entries if is_complete_run(p)]


def test_folders_are_never_overwritten(tmp_path):
    paths = []
    for _ in range(3):
        with RunFolder(tmp_path, "same", "a: 1\n") as run:
            (run.path / "metrics.json").write_text("{}")
        paths.append(run.path)
    assert len(set(paths)) == 3 and all(is_complete_run(p) for p in paths)


def test_unwritable_output_is_a_clear_error(tmp_path, write_config):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunFolderError, match="cannot create output directory"):
        RunFolder(blocker / "runs", "x", "")
    proc = run_qmoe("train", write_config(), "--out", blocker / "runs")
    assert proc.returncode == 1 and "output directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nan_training_exits_1_with_one_line(tmp_path, write_config, cli, monkeypatch):
    import numpy as np

    from qmoe_cli.data import load_dataset

    def poisoned(cfg, seed):
        splits = load_dataset(cfg, seed)
        splits.X_train[0, 0] = np.inf
        return splits

    monkeypatch.setattr("qmoe_cli.training.seeds.load_dataset", poisoned)
    result = cli("train", write_config(), "--out", tmp_path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "training diverged: loss is nan at epoch 1" in lines[0]
    assert not [p for p in tmp_path.iterdir() if is_complete_run(p)]


def test_an_owner_is_alive_while_it_runs_and_not_once_a_zombie(tmp_path):
    """A run folder's owner (runs.owner_alive): a running process owns it; one that was
    killed and not yet reaped (a zombie, as a sweep's worker is when init never reaps it)
    does not, so a rerun takes its points up at once."""
    import socket
    import subprocess
    import sys
    import time

    from qmoe_cli.runs import owner_alive

    def owned_by(pid: int):
        path = tmp_path / f"{pid}.json"
        path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
        return path

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert owner_alive(owned_by(proc.pid))
        proc.kill()
        time.sleep(0.5)  # dead, not waited for: a zombie
        assert not owner_alive(owned_by(proc.pid))
    finally:
        proc.kill()
        proc.wait()
    assert not owner_alive(owned_by(proc.pid))  # reaped: gone


def test_the_git_revision_of_this_checkout_is_recorded():
    """env.json names the revision that produced a run (it said "not a git checkout" after
    the module moved one folder down)."""
    import subprocess

    from qmoe_cli.runs.folder import git_revision

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert git_revision()["revision"] == head
