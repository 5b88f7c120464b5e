"""`qmoe tune --executor slurm`: array tasks pulling trials from one study, against the real
single-node SLURM on localhost that tests/test_sweep_slurm.py starts (skipped without root
unless QMOE_SLURM_TESTS=1, as there); and a submission SLURM refuses, with no cluster."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from . import test_sweep_slurm
from .conftest import ROOT
from .test_tune import TUNE

slurm = test_sweep_slurm.slurm  # the cluster fixture (module scope: started, then stopped)
SLURM = {"time_min": 20, "cpus_per_task": 1, "mem": "400M", "workers": 2, "poll_seconds": 0.5}


def _config(tmp_path, **more):
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump({**TUNE, "trials": 4, "slurm": SLURM, **more}))
    return path


def _qmoe(env, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        cwd=ROOT,
        env=dict(env, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _trials(url, variant):
    import optuna

    from qmoe_cli.experiments.tune import open_storage

    study = optuna.load_study(study_name=f"tiny.{variant}", storage=open_storage(url))
    return study.get_trials()


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_a_slurm_tune_completes_with_exactly_the_budget(slurm, tmp_path, storage):
    out = tmp_path / "out"
    url = f"sqlite:///{out / 'tiny' / 'study.db'}"
    args = []
    if storage == "journal":
        url = f"journal:{tmp_path / 'study.journal'}"
        args = ["--storage", url]
    path = _config(tmp_path, trial_batch=2)
    proc = _qmoe(slurm, "tune", path, "--out", out, "--executor", "slurm", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "submitted 2 array tasks to SLURM" in proc.stdout, proc.stdout
    tasks = set()
    for variant in ("A", "C"):
        trials = _trials(url, variant)
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        states = [(t.number, t.state.name, t.user_attrs) for t in trials]
        assert len(complete) == 4, states  # exactly the budget
        failed = {t.number for t in trials if t.state.name == "FAIL"}  # a task interrupted
        assert {t.user_attrs.get("retry_of") for t in trials} - {None} == failed, states
        assert len(trials) == 4 + len(failed), states
        tasks |= {t.user_attrs["owner"]["slurm_task"] for t in complete}
    assert tasks and all("_" in t for t in tasks)  # every trial ran in an array task
    tuned = json.loads((out / "tiny" / "tuned.json").read_text())
    assert {v["trials_complete"] for v in tuned["variants"].values()} == {4}
    (final,) = (out / "tiny" / "final").iterdir()  # the final ablation, run by the submitter
    assert (final / "metrics.json").exists() and not final.name.startswith(".")
    # run again: nothing left to search, nothing submitted, the final run found done
    before = [(t.number, t.state.name) for t in _trials(url, "A")]
    again = _qmoe(slurm, "tune", path, "--out", out, "--executor", "slurm", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "final run already done" in again.stdout and "submitted" not in again.stdout
    assert [(t.number, t.state.name) for t in _trials(url, "A")] == before  # no trial added


DOWN = test_sweep_slurm.DOWN


@pytest.mark.parametrize("sbatch", ["controller-down", "missing"])
def test_a_submission_slurm_refuses_is_one_line_and_runs_no_trial(tmp_path, sbatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = os.environ.get("PATH", "")
    if sbatch == "controller-down":  # sbatch as it fails when slurmctld is down
        for name, text in [("sbatch", test_sweep_slurm.SBATCH_DOWN), ("srun", "#!/bin/sh\n")]:
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        path = f"{bin_dir}{os.pathsep}{path}"
    else:  # no SLURM client on PATH at all
        path = str(bin_dir)
    out = tmp_path / "out"
    proc = _qmoe(
        dict(os.environ, PATH=path), "tune", _config(tmp_path), "--out", out,
        "--executor", "slurm", "--workers", "3", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    reason = DOWN if sbatch == "controller-down" else "sbatch not found"
    assert proc.stderr.splitlines() == [f"error: cannot submit to SLURM: {reason}"]
    folder = out / "tiny"
    assert not (folder / "submitit").exists()  # nothing half-submitted
    assert not (folder / "trials.csv").exists() and not (folder / "final").exists()
    if (folder / "study.db").exists():  # made before sbatch was asked: empty
        url = f"sqlite:///{folder / 'study.db'}"
        assert _trials(url, "A") == [] and _trials(url, "C") == []
