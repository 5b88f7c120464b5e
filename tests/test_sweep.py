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


# --- `--set` on a sweep file: its own keys, and `base.<key>` for the base config --------------


def test_split_overrides_sends_base_dotted_keys_to_the_base_config():
    from qmoe_cli.experiments.sweep import split_overrides

    own, base = split_overrides(
        ["seeds=[0,1]", "base=other.yaml", "base.train.epochs=5", "grid.train.lr=[0.1]"]
    )
    assert own == ["seeds=[0,1]", "base=other.yaml", "grid.train.lr=[0.1]"]
    assert base == ["train.epochs=5"]


def test_base_override_reaches_every_point_changes_ids_and_is_recorded(tmp_path, cli):
    path = _write(tmp_path, {**SWEEP, "grid": {"model.experts.count": [2, 3]}, "seeds": [0]})
    plain = expand_points(*load_sweep(path))
    changed = expand_points(*load_sweep(path, ["base.train.epochs=2", "seeds=[0,1]"]))
    assert len(plain) == 2 and len(changed) == 4  # sweep keys and base keys together
    assert all("epochs: 2\n" in p["config"] for p in changed)
    assert all("epochs: 3\n" in p["config"] for p in plain)
    assert not {p["id"] for p in plain} & {p["id"] for p in changed}  # a changed base: new points

    out = tmp_path / "sweeps"
    result = cli("sweep", path, "--set", "base.train.epochs=2", "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "2 done, 0 running, 0 failed, 0 pending" in result.output
    recorded = yaml.safe_load((out / "s" / "sweep.yaml").read_text())
    assert recorded["base_overrides"] == ["train.epochs=2"]
    for point in _points_dir(tmp_path).iterdir():
        assert yaml.safe_load((point / "config.yaml").read_text())["train"]["epochs"] == 2
    # --status sees the same points with the override, and not without it
    status = cli("sweep", path, "--set", "base.train.epochs=2", "--out", out, "--status")
    assert "2 done, 0 running, 0 failed, 0 pending" in status.output, status.output
    status = cli("sweep", path, "--out", out, "--status")
    assert "0 done, 0 running, 0 failed, 2 pending" in status.output, status.output
    # the recorded sweep.yaml reruns the same points
    again = cli("sweep", out / "s" / "sweep.yaml", "--out", out, "--status")
    assert "2 done, 0 running, 0 failed, 0 pending" in again.output, again.output


def test_base_path_override_still_replaces_the_path(tmp_path):
    path = _write(tmp_path, {**SWEEP, "base": "missing.yaml"})
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 4}}))
    sweep, base = load_sweep(path, [f"base={other}", "base.train.lr=0.5"])
    assert sweep.base == str(other.resolve())
    assert base["train"]["epochs"] == 4 and base["train"]["lr"] == 0.5


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["base.train.epochz=5"], "train.epochz: unknown key"),
        (["base.train.epochs=fast"], "train.epochs"),
        (["base.kind=ablate"], "base.kind"),
        (["train.epochs=5"], "train: unknown key"),  # no prefix: the sweep file's own key
    ],
)
def test_bad_base_overrides_exit_2_with_one_line(tmp_path, cli, overrides, needle):
    path = _write(tmp_path, SWEEP)
    sets = [a for o in overrides for a in ("--set", o)]
    result = cli("sweep", path, *sets, "--out", tmp_path / "sweeps")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.output
    assert not (tmp_path / "sweeps").exists()


def test_validate_a_sweep_file_with_a_base_override(tmp_path, cli):
    result = cli("validate", _write(tmp_path, SWEEP), "--set", "base.train.epochs=5")
    assert result.exit_code == 0, result.output
    assert "base_overrides:\n- train.epochs=5" in result.output


@pytest.mark.parametrize("grid", [{}, None])
def test_a_sweep_without_grid_or_zip_keys_is_rejected(tmp_path, cli, grid):
    sweep = {k: v for k, v in SWEEP.items() if k != "grid"}
    if grid is not None:
        sweep["grid"] = grid
    path = _write(tmp_path, sweep)
    result = cli("sweep", path, "--out", tmp_path / "sweeps")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"{path}: grid: give at least one key to sweep (or zip)" in lines[0]
    assert not (tmp_path / "sweeps").exists()
    # and the same through an override of a good sweep file
    result = cli("sweep", _write(tmp_path, SWEEP), "--set", "grid={}", "--status")
    assert result.exit_code == 2 and "give at least one key to sweep" in result.output


def test_a_sweep_with_an_invalid_grid_point_is_refused_before_anything_is_written(tmp_path, cli):
    """`validate` and `sweep` agree: every grid point is validated up front, the sweep file
    named, and no sweep folder is created for a grid that cannot run."""
    path = _write(tmp_path, {**SWEEP, "grid": {"train.epochs": [1, 0]}})
    for args in (("validate", path), ("sweep", path, "--out", tmp_path / "sweeps")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            f"error: {path}: grid point {{'train.epochs': 0}}: train.epochs: "
            "Input should be greater than or equal to 1"
        )
    assert not (tmp_path / "sweeps").exists()
    good = cli("validate", _write(tmp_path, SWEEP))
    assert good.exit_code == 0 and "# 8 points x seeds, each valid" in good.output


def test_sweep_summary_intervals_stay_within_0_and_1(tmp_path, monkeypatch):
    """Two seeds at 1.0 and 0.6: the t interval of their mean reaches 3.3; an accuracy's
    interval is cut to [0, 1] (summary.csv's test_acc_ci_high was 1.435)."""
    from qmoe_cli.experiments import sweep as sweep_module

    sweep, base = load_sweep(_write(tmp_path, {**SWEEP, "grid": {"train.lr": [0.1]}}))
    points = expand_points(sweep, base)
    root = tmp_path / "s"
    for p in points:
        folder = root / "points" / p["id"]
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("{}")
    accuracy = {p["id"]: acc for p, acc in zip(points, (1.0, 0.6), strict=True)}
    monkeypatch.setattr(
        sweep_module,
        "_metric_rows",
        lambda folder, command: [{"test_accuracy": accuracy[folder.name]}],
    )
    sweep_module.aggregate(root, sweep, points)
    (row,) = read_csv(root / "summary.csv")
    assert float(row["test_acc_mean"]) == pytest.approx(0.8)
    assert float(row["test_acc_ci_high"]) == 1.0 and 0.0 <= float(row["test_acc_ci_low"]) < 0.8
