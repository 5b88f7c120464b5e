import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from qmoe_cli.experiments.sweep import expand_points, load_sweep
from qmoe_cli.runs import is_complete_run, read_csv

from .conftest import ROOT, TINY


def _write(tmp_path, sweep: dict, base: dict | None = None):
    base_path = tmp_path / "base.yaml"
    base_path.write_text(yaml.safe_dump(base or TINY))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **sweep}))
    return path


SWEEP = {
    "kind": "sweep",
    "name": "s",
    "command": "train",
    "seeds": [0, 1],
    "grid": {"model.experts.count": [2, 3], "data.pca_components": [1, 3]},
}


def _points_dir(tmp_path):
    return tmp_path / "sweeps" / "s" / "points"


def test_local_sweep_runs_every_point_records_failures_and_aggregates(tmp_path, cli):
    path = _write(tmp_path, SWEEP)
    result = cli("sweep", path, "--out", tmp_path / "sweeps", "--jobs", "1")
    assert result.exit_code == 0, result.output
    # pca_components: 3 exceeds the 2 features: those 4 points fail, the other 4 run
    assert "4 done, 0 running, 4 failed, 0 pending" in result.output
    assert "data.pca_components" in result.output
    done = [p for p in _points_dir(tmp_path).iterdir() if is_complete_run(p)]
    assert len(done) == 4
    rows = read_csv(tmp_path / "sweeps" / "s" / "sweep.csv")
    assert len(rows) == 4 and {
        "model.experts.count",
        "data.pca_components",
        "seed",
        "test_accuracy",
    } <= set(rows[0])
    summary = read_csv(tmp_path / "sweeps" / "s" / "summary.csv")
    assert len(summary) == 2 and all(r["n_seeds"] == "2" for r in summary)
    point = json.loads((done[0] / "point.json").read_text())
    assert set(point) == {"id", "swept", "seed"}
    # running it again reruns only the failed points, and duplicates nothing
    again = cli("sweep", path, "--out", tmp_path / "sweeps", "--jobs", "1")
    assert "(4 already done or running)" in again.output
    assert len([p for p in _points_dir(tmp_path).iterdir() if is_complete_run(p)]) == 4
    status = cli("sweep", path, "--out", tmp_path / "sweeps", "--status")
    assert "4 done, 0 running, 4 failed, 0 pending" in status.output


def test_point_ids_are_stable_and_distinct(tmp_path):
    sweep, base = load_sweep(_write(tmp_path, SWEEP))
    a, b = expand_points(sweep, base), expand_points(sweep, base)
    assert [p["id"] for p in a] == [p["id"] for p in b]
    assert len({p["id"] for p in a}) == 8


@pytest.mark.parametrize(
    "sweep, needle",
    [
        ({**SWEEP, "bogus": 1}, "bogus: unknown key"),
        ({**SWEEP, "grid": {"model.router.nothing": [1]}}, "'model.router.nothing' is not a key"),
        ({**SWEEP, "grid": {"train.lr": []}}, "train.lr: give at least one value"),
        ({**SWEEP, "zip": {"train.lr": [0.1, 0.2], "train.epochs": [1]}}, "same number"),
        ({**SWEEP, "grid": {"seeds": [[1]]}}, "seeds go in the sweep's own"),
        ({**SWEEP, "grid": {"train.lr": ["fast"]}}, "train.lr"),
    ],
)
def test_bad_sweep_files_exit_2_with_one_line(tmp_path, cli, sweep, needle):
    result = cli("sweep", _write(tmp_path, sweep), "--out", tmp_path / "sweeps")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.output


def test_zip_varies_keys_together(tmp_path):
    sweep, base = load_sweep(
        _write(
            tmp_path, {**SWEEP, "grid": {}, "zip": {"train.lr": [0.1, 0.2], "train.epochs": [1, 2]}}
        )
    )
    swept = [p["swept"] for p in expand_points(sweep, base)]
    assert {json.dumps(s, sort_keys=True) for s in swept} == {
        json.dumps({"train.epochs": 1, "train.lr": 0.1}, sort_keys=True),
        json.dumps({"train.epochs": 2, "train.lr": 0.2}, sort_keys=True),
    }


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicates(tmp_path):
    """SIGKILL a local sweep part-way, run it again: every point complete, none twice."""
    sweep = {
        "kind": "sweep",
        "name": "s",
        "command": "train",
        "seeds": [0, 1, 2],
        "grid": {"model.experts.count": [2, 3], "train.epochs": [15, 16]},
    }
    base = {
        **TINY,
        "data": {"name": "two_moons", "n_samples": 400},
        "train": {"epochs": 10, "early_stopping": False},
    }
    path = _write(tmp_path, sweep, base)
    cmd = [
        sys.executable,
        "-m",
        "qmoe_cli.cli",
        "sweep",
        str(path),
        "--out",
        str(tmp_path / "sweeps"),
        "--jobs",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    points = _points_dir(tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline:
        if points.exists() and any(is_complete_run(p) for p in points.iterdir()):
            break
        time.sleep(0.2)
    import os

    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-flight
    proc.wait()
    done_before = [p for p in points.iterdir() if is_complete_run(p)]
    assert 0 < len(done_before) < 12, "the kill should land part-way"
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "12 done, 0 running, 0 failed, 0 pending" in rerun.stdout
    finals = [p for p in points.iterdir() if not p.name.startswith(".")]
    assert len(finals) == 12 and all(is_complete_run(p) for p in finals)
    assert not [p for p in points.iterdir() if p.name.startswith(".")]  # no leftovers
    rows = read_csv(tmp_path / "sweeps" / "s" / "sweep.csv")
    assert len(rows) == 12 and len({(r["point"]) for r in rows}) == 12
