"""`qmoe sweep --executor slurm` against a real single-node SLURM on localhost.

The cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd) is started by
tests/slurm/start_cluster.sh and stopped afterwards. CI sets QMOE_SLURM_TESTS=1: there a
cluster that does not come up fails the test; elsewhere (no root, no packages) it skips.
The last tests need no cluster: a submission SLURM refuses, with a stand-in sbatch.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from qmoe_cli.runs import is_complete_run, read_json

from .conftest import ROOT, TINY

REQUIRED = os.environ.get("QMOE_SLURM_TESTS") == "1"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    def unavailable(reason):
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)

    if os.geteuid() != 0:
        unavailable("starting a SLURM cluster needs root")
    # Not under pytest's 0700 temporary tree: MariaDB runs as user mysql and must reach it.
    state = Path("/tmp/qmoe-slurm-tests")
    start = subprocess.run(
        ["bash", str(ROOT / "tests/slurm/start_cluster.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if start.returncode != 0:
        subprocess.run(
            ["bash", str(ROOT / "tests/slurm/stop_cluster.sh"), str(state)],
            capture_output=True,
            timeout=120,
        )
        unavailable(f"SLURM did not start: {start.stderr[-500:]}")
    env = dict(os.environ, SLURM_CONF=str(state / "etc" / "slurm.conf"))
    yield env
    subprocess.run(
        ["bash", str(ROOT / "tests/slurm/stop_cluster.sh"), str(state)],
        capture_output=True,
        timeout=120,
    )


def _sweep(tmp_path, epochs, name="slurm-sweep"):
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(
            {
                **TINY,
                "data": {"name": "two_moons", "n_samples": 300},
                "train": {"epochs": epochs, "early_stopping": False},
            }
        )
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kind": "sweep",
                "name": name,
                "base": "base.yaml",
                "command": "train",
                "seeds": [0, 1],
                "grid": {"model.experts.count": [2, 3]},
                "slurm": {"time_min": 5, "cpus_per_task": 1, "mem": "300M", "points_per_task": 1},
            }
        )
    )
    return path


def _qmoe(env, *args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        **kw,
    )


@pytest.mark.slow
def test_sweep_runs_as_a_slurm_job_array(slurm, tmp_path):
    proc = _qmoe(
        slurm,
        "sweep",
        _sweep(tmp_path, 3),
        "--executor",
        "slurm",
        "--out",
        tmp_path / "sweeps",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "submitted 4 array tasks to SLURM" in proc.stdout
    assert "4 done, 0 running, 0 failed, 0 pending" in proc.stdout
    points = tmp_path / "sweeps" / "slurm-sweep" / "points"
    finals = [p for p in points.iterdir() if is_complete_run(p)]
    assert len(finals) == 4
    owners = [read_json(p / "point.json") for p in finals]
    assert {o["seed"] for o in owners} == {0, 1}


@pytest.mark.slow
def test_killed_slurm_task_is_recorded_and_resumed(slurm, tmp_path):
    """scancel one array task mid-run: the sweep records it failed, a rerun completes it."""
    # Long enough to be cancelled while running; its own name, so that squeue cannot pick
    # a task of the previous test that is still completing.
    path = _sweep(tmp_path, 3000, name="slurm-kill")
    out = tmp_path / "sweeps"
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qmoe_cli.cli",
            "sweep",
            str(path),
            "--executor",
            "slurm",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=slurm,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline, job = time.time() + 120, None
    while time.time() < deadline and job is None:
        q = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i", "-n", "qmoe-slurm-kill"],
            env=slurm,
            capture_output=True,
            text=True,
        )
        running = q.stdout.split()
        job = running[0] if running else None
        time.sleep(0.5)
    assert job, "no array task started running"
    cancel = subprocess.run(["scancel", "--full", job], env=slurm, capture_output=True, text=True)
    assert cancel.returncode == 0, cancel.stderr
    stdout, stderr = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, stderr[-2000:]
    assert "1 failed" in stdout, stdout
    assert "SLURM task" in stdout
    # the rerun only resubmits the failed point, and finishes it
    rerun = _qmoe(slurm, "sweep", path, "--executor", "slurm", "--out", out, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "(3 already done or running)" in rerun.stdout
    assert "4 done, 0 running, 0 failed, 0 pending" in rerun.stdout
    points = out / "slurm-kill" / "points"
    assert len([p for p in points.iterdir() if is_complete_run(p)]) == 4
    assert not [p for p in points.iterdir() if p.name.startswith(".")]


# --- SLURM not there: no cluster needed --------------------------------------------------------

DOWN = "Batch job submission failed: Unable to contact slurm controller (connect failure)"
SBATCH_DOWN = f"#!/bin/sh\necho 'sbatch: error: {DOWN}' >&2\nexit 1\n"


@pytest.mark.parametrize("sbatch", ["controller-down", "missing"])
def test_a_submission_slurm_refuses_is_one_line_and_leaves_the_points_pending(tmp_path, sbatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = os.environ.get("PATH", "")
    if sbatch == "controller-down":  # sbatch as it fails when slurmctld is down
        for name, text in [("sbatch", SBATCH_DOWN), ("srun", "#!/bin/sh\nexit 1\n")]:
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        path = f"{bin_dir}{os.pathsep}{path}"
    else:  # no SLURM client on PATH at all
        path = str(bin_dir)
    env = dict(os.environ, PATH=path)
    sweep, out = _sweep(tmp_path, 3), tmp_path / "sweeps"

    proc = _qmoe(env, "sweep", sweep, "--executor", "slurm", "--out", out, timeout=120)
    assert proc.returncode == 1
    reason = DOWN if sbatch == "controller-down" else "sbatch not found"
    assert proc.stderr.splitlines() == [f"error: cannot submit to SLURM: {reason}"]
    root = out / "slurm-sweep"
    assert not (root / "submitit").exists()  # no pickles of a submission that never was
    assert not (root / "status").exists()
    status = _qmoe(env, "sweep", sweep, "--out", out, "--status", timeout=120)
    assert status.returncode == 0
    assert "0 done, 0 running, 0 failed, 4 pending" in status.stdout


def test_the_reason_is_the_line_of_sbatch_that_says_why():
    from qmoe_cli.training.slurm import sbatch_reason

    no_config = (  # sbatch 22.05 with no slurm.conf and no DNS SRV record
        "sbatch: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"
        "sbatch: error: fetch_config: DNS SRV lookup failed\n"
        "sbatch: error: _establish_config_source: failed to fetch config\n"
        "sbatch: fatal: Could not establish a configuration source\n"
    )
    assert sbatch_reason(no_config) == "Could not establish a configuration source"
    partition = (
        "sbatch: error: invalid partition specified: gpu\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    )
    assert (
        sbatch_reason(partition) == "Batch job submission failed: Invalid partition name specified"
    )
    assert sbatch_reason("\nsomething else\n") == "something else"
