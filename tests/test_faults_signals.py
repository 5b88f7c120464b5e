"""Interrupts and resume: SIGINT, SIGTERM and SIGHUP stop a real command within 2 s, no
process outlives it (nor a command killed with SIGKILL), every finished training is kept,
and the same command (or --resume) trains only the missing ones, giving the numbers an
uninterrupted run gives."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from qmoe_cli.records import as_json, read_record
from qmoe_cli.runs import group, owner
from tests.conftest import ROOT, TINY, only_complete_run

STOP_WITHIN = 2.0  # seconds from the signal to the command's exit (issue 13)

# Two variants x four seeds, each training a few seconds in a worker: long enough that an
# interrupt lands while trainings run and after the first has been written.
ABLATE = {
    "kind": "ablate",
    "name": "sig",
    "data": {"name": "two_moons", "n_samples": 300, "noise": 0.1, "scaling": "minmax_pi"},
    "model": {"experts": {"count": 4}},
    "train": {"epochs": 40, "batch_size": 16},
    "seeds": [0, 1, 2, 3],
    "reference": "B",
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum", "qubits": 2, "layers": 6}},
    },
}


def _start(args, out_log: Path) -> subprocess.Popen:
    """The real console script in its own session (so a Ctrl-C can go to its group)."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=out_log.open("w"),
        start_new_session=True,
    )


def _wait_for(predicate, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _cells(out: Path) -> list[Path]:
    return sorted(out.glob("*/variants/*/seed-*/model.pt")) + sorted(
        out.glob(".*/variants/*/seed-*/model.pt")
    )


def _interrupt(proc: subprocess.Popen, sig: int, group: bool) -> tuple[float, list]:
    """Send `sig` (to the whole process group when `group`, as a terminal's Ctrl-C does);
    return the seconds until exit and the processes that existed just before."""
    family = psutil.Process(proc.pid).children(recursive=True)
    start = time.monotonic()
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    proc.wait(timeout=30)
    return time.monotonic() - start, family


def _survivors(family: list) -> list:
    time.sleep(0.3)
    alive = []
    for p in family:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, group, code",
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["sigterm", "ctrl-c"],
)
def test_interrupted_ablate_stops_fast_keeps_cells_and_resumes(tmp_path, sig, group, code):
    config = tmp_path / "sig.yaml"
    config.write_text(yaml.safe_dump(ABLATE))
    out, log = tmp_path / "runs", tmp_path / "stderr.txt"
    proc = _start(["ablate", config, "--out", out, "--jobs", "2"], log)
    _wait_for(lambda: len(_cells(out)) >= 1)
    seconds, family = _interrupt(proc, sig, group)

    assert seconds < STOP_WITHIN, f"stopped {seconds:.2f} s after {signal.Signals(sig).name}"
    assert proc.returncode == code
    assert len(family) >= 2  # the workers (and the resource tracker) were there
    assert _survivors(family) == []
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines[-1].startswith(f"interrupted ({signal.Signals(sig).name}): ")
    failed = [p for p in out.iterdir() if p.name.endswith(".failed")]
    assert len(failed) == 1 and failed[0].name in lines[-1]
    kept = {p: p.stat().st_mtime_ns for p in _cells(out)}
    assert kept, "no finished training was kept"

    rerun = subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", "ablate", config, "--out", out, "--jobs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {len(kept)} of 8 trainings already done" in rerun.stderr
    group_dir = only_complete_run(out)
    assert group_dir.name == failed[0].name.removesuffix(".failed")  # taken up, not copied
    for cell, mtime in kept.items():  # never trained twice: the kept files are untouched
        moved = group_dir / cell.relative_to(failed[0])
        assert moved.stat().st_mtime_ns == mtime
    assert len(list(group_dir.glob("variants/*/seed-*/model.pt"))) == 8
    assert not [p for p in out.iterdir() if p.name.startswith(".") or "failed" in p.name]


@pytest.mark.slow
def test_ctrl_c_stops_a_local_sweep_and_the_rerun_finishes_it(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**TINY, "train": {"epochs": 30, "batch_size": 16}}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "kind": "sweep",
                "name": "s",
                "base": str(base),
                "grid": {"train.lr": [0.01, 0.02, 0.03, 0.05, 0.1, 0.2]},
                "seeds": [0],
            }
        )
    )
    out, log = tmp_path / "sweeps", tmp_path / "stderr.txt"
    proc = _start(["sweep", sweep, "--out", out, "--jobs", "2"], log)
    points = out / "s" / "points"
    _wait_for(lambda: points.is_dir() and any(not p.name.startswith(".") for p in points.iterdir()))
    seconds, family = _interrupt(proc, signal.SIGINT, group=True)
    assert seconds < STOP_WITHIN and proc.returncode == 130
    assert _survivors(family) == []
    done = {p.name for p in points.iterdir() if not p.name.startswith(".")}
    assert 1 <= len(done) < 6

    rerun = subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", "sweep", sweep, "--out", out, "--jobs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"({len(done)} already done or running)" in rerun.stdout
    assert "6 done, 0 running, 0 failed, 0 pending" in rerun.stdout


# --- a parent killed (SIGKILL) or hung up (SIGHUP): its workers go with it ------------------


def _all_gone_within(family: list, seconds: float = STOP_WITHIN) -> list:
    """Poll until every process of `family` has ended (a zombie has); those still running."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for p in family:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _kill_leftovers(processes: list) -> None:
    for p in processes:  # so that a failing test leaves nothing training
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


class _Terminal:
    """A terminal (pty) for a command, read all along as a terminal window would;
    `close()` hangs it up like a closed window or a dropped ssh session."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        self.reader = threading.Thread(target=self._read, daemon=True)

    def start(self, args) -> subprocess.Popen:
        def controlling_terminal():  # in the child, after setsid: this pty is its terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen(
            [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
            cwd=ROOT,
            env=dict(os.environ, COLUMNS="200"),
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            start_new_session=True,
            preexec_fn=controlling_terminal,
        )
        os.close(self.slave)
        self.reader.start()
        return proc

    def _read(self) -> None:
        while True:
            try:
                if select.select([self.master], [], [], 0.2)[0]:
                    os.read(self.master, 65536)
            except OSError:  # closed, or hung up
                return

    def close(self) -> None:
        os.close(self.master)


def _rerun(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "terminal-closed"])
def test_a_killed_or_hung_up_ablate_leaves_no_process_and_the_rerun_finishes_it(tmp_path, how):
    config = tmp_path / "sig.yaml"
    config.write_text(yaml.safe_dump(ABLATE))
    out = tmp_path / "runs"
    args = ["ablate", config, "--out", out, "--jobs", "2"]
    terminal = _Terminal() if how == "terminal-closed" else None
    proc = terminal.start(args) if terminal else _start(args, tmp_path / "stderr.txt")
    _wait_for(lambda: len(_cells(out)) >= 1)
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 3  # two workers and the resource tracker
    if terminal:
        terminal.close()
    else:
        proc.kill()
    proc.wait(timeout=30)
    alive = _all_gone_within(family)
    _kill_leftovers(alive)
    assert alive == [], f"{len(alive)} processes outlived the command"

    (left,) = list(out.iterdir())
    if terminal:  # handled: stopped as for SIGTERM, the folder marked failed
        assert proc.returncode == 129
        assert left.name.endswith(".failed")
    else:  # no say in it: the folder stays the hidden .tmp one
        assert proc.returncode == -signal.SIGKILL
        assert left.name.startswith(".") and left.name.endswith(".tmp")
    kept = len(set(_cells(out)))  # (a hidden .tmp folder matches both globs)
    rerun = _rerun(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {kept} of 8 trainings already done" in rerun.stderr
    assert len(list(only_complete_run(out).glob("variants/*/seed-*/model.pt"))) == 8


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["sigkill", "sighup"])
def test_a_killed_or_hung_up_sweep_leaves_no_process_and_the_rerun_finishes_it(tmp_path, sig):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**TINY, "train": {"epochs": 60, "batch_size": 16}}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "kind": "sweep",
                "name": "s",
                "base": str(base),
                "grid": {"train.lr": [0.01, 0.02, 0.03, 0.05]},
                "seeds": [0],
            }
        )
    )
    out, log = tmp_path / "sweeps", tmp_path / "stderr.txt"
    args = ["sweep", sweep, "--out", out, "--jobs", "2"]
    proc = _start(args, log)
    points = out / "s" / "points"
    # both workers have claimed their points: training
    _wait_for(lambda: points.is_dir() and len(list(points.glob(".*.work"))) == 4)
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 3
    proc.send_signal(sig)
    proc.wait(timeout=30)
    alive = _all_gone_within(family)
    _kill_leftovers(alive)
    assert alive == [], f"{len(alive)} processes outlived the command"

    if sig == signal.SIGHUP:
        assert proc.returncode == 129
        last = log.read_text().strip().splitlines()[-1]
        assert last == (
            f"interrupted (SIGHUP): finished points are kept in {out / 's'}; run the same "
            "command again to run only the missing ones"
        )
    else:
        assert proc.returncode == -signal.SIGKILL
    status = _rerun("sweep", sweep, "--out", out, "--status")
    assert "0 running" in status.stdout, status.stdout  # the killed points are not running
    rerun = _rerun(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert "4 done, 0 running, 0 failed, 0 pending" in rerun.stdout


# --- resume, in process: an interrupt injected after some trainings have finished ---------


REAL_RUN_SEEDS = group.run_seeds


class _StopAfter:
    """Wraps run_seeds (a stack of seeds of one config: the unit of work) in
    this process: records every seed trained, and raises KeyboardInterrupt (as Ctrl-C
    does) before the next stack once `stop_at` seeds are done (None: never)."""

    def __init__(self, monkeypatch, stop_at=None):
        self.calls, self.stop_at = [], stop_at

        def run_seeds(cfg, seeds, on_epoch=None):
            if self.stop_at is not None and len(self.calls) >= self.stop_at:
                raise KeyboardInterrupt
            self.calls += [(cfg.model.router.type, s) for s in seeds]
            return REAL_RUN_SEEDS(cfg, seeds, on_epoch)

        monkeypatch.setattr(group, "run_seeds", run_seeds)


GROUPS = {
    "ablate": {
        **{k: v for k, v in TINY.items() if k != "model"},
        "kind": "ablate",
        "model": {"experts": {"count": 2}},
        "seeds": [0, 1],
        "reference": "A",
        "variants": {"A": {"router": {"type": "linear"}}, "C": {"router": {"type": "mlp"}}},
    },
    "efficiency": {
        **{k: v for k, v in TINY.items() if k != "model"},
        "kind": "efficiency",
        "model": {"experts": {"count": 2}},
        "seeds": [0, 1],
        "variants": {
            "lin": {"router": {"type": "linear"}},
            "mlp4": {"router": {"type": "mlp", "hidden": [4]}},
        },
    },
    "noise-sweep": {
        **{k: v for k, v in TINY.items() if k != "model"},
        "kind": "noise-sweep",
        "model": {
            "router": {"type": "quantum", "qubits": 2, "layers": 1},
            "experts": {"count": 4},
        },
        "seeds": [0, 1],
        "levels": [0.0, 0.05],
        "mode": "train",
        "baselines": {"linear": {"router": {"type": "linear"}}},
    },
    # sequential: each seed a unit of its own, so an interrupt can fall between seeds
    "train": {**TINY, "seeds": [0, 1, 2], "train": {**TINY["train"], "engine": "sequential"}},
}


def _accuracies(group: Path) -> list:
    """Every test accuracy a group's seed folders hold, by path."""
    return sorted(
        (str(p.parent.relative_to(group)), as_json(read_record_seed(p))["test_accuracy"])
        for p in group.glob("**/seed-*/metrics.json")
    )


def read_record_seed(path: Path):
    from qmoe_cli.records import SeedRecord
    from qmoe_cli.runs import read_json

    return SeedRecord.model_validate(read_json(path))


@pytest.mark.parametrize("command", list(GROUPS))
def test_a_group_resumes_with_only_the_missing_trainings(cli, tmp_path, monkeypatch, command):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(GROUPS[command]))
    args = [command, config] + ([] if command == "train" else ["--jobs", "1"])

    whole = tmp_path / "whole"
    counter = _StopAfter(monkeypatch)
    assert cli(*args, "--out", whole).exit_code == 0
    total = len(counter.calls)

    out = tmp_path / "runs"
    first = _StopAfter(monkeypatch, stop_at=2)
    result = cli(*args, "--out", out)
    assert result.exit_code == 130 and "interrupted (SIGINT): finished trainings" in result.output
    assert len(first.calls) == 2
    (failed,) = out.iterdir()
    assert failed.name.endswith(".failed")

    second = _StopAfter(monkeypatch)
    result = cli(*args, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"resuming: 2 of {total} trainings already done" in result.output
    assert len(second.calls) == total - 2
    assert sorted(first.calls + second.calls) == sorted(counter.calls)  # none twice
    resumed = only_complete_run(out)
    assert _accuracies(resumed) == _accuracies(only_complete_run(whole))
    assert as_json(read_record(resumed))["command"] == command


def test_resume_names_the_folder_and_refuses_what_it_cannot_take(cli, tmp_path, monkeypatch):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(GROUPS["ablate"]))
    out = tmp_path / "runs"
    _StopAfter(monkeypatch, stop_at=2)
    assert cli("ablate", config, "--out", out, "--jobs", "1").exit_code == 130
    (failed,) = out.iterdir()

    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**GROUPS["ablate"], "seeds": [0, 1, 2]}))
    result = cli("ablate", other, "--out", out, "--resume", failed)
    assert result.exit_code == 1
    assert "config.yaml is not the config given" in result.output
    result = cli("ablate", config, "--out", tmp_path / "elsewhere", "--resume", failed)
    assert result.exit_code == 2 and "is not in --out" in result.output
    result = cli("ablate", config, "--resume", tmp_path / "nope")
    assert result.exit_code == 1 and "--resume: run folder not found" in result.output

    _StopAfter(monkeypatch)
    result = cli("ablate", config, "--resume", failed, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "resuming: 2 of 4 trainings already done" in result.output
    done = only_complete_run(out)
    result = cli("ablate", config, "--resume", done)
    assert result.exit_code == 0 and f"nothing to do: {done} is complete" in result.output


def test_a_folder_being_written_is_never_taken(cli, tmp_path, monkeypatch):
    """A `.tmp` folder whose owner runs (here: this very process) is left alone."""
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(GROUPS["ablate"]))
    out = tmp_path / "runs"
    _StopAfter(monkeypatch, stop_at=2)
    assert cli("ablate", config, "--out", out, "--jobs", "1").exit_code == 130
    (failed,) = out.iterdir()
    busy = out / f".{failed.name.removesuffix('.failed')}.tmp"
    failed.rename(busy)
    (busy / ".owner.json").write_text(json.dumps(owner()))  # this live process
    _StopAfter(monkeypatch)
    result = cli("ablate", config, "--out", out, "--jobs", "1")
    assert result.exit_code == 0 and "resuming" not in result.output
    assert busy.is_dir()  # untouched


@pytest.mark.slow
def test_a_diagnose_scan_stopped_by_sigterm_keeps_its_cells_and_resumes(tmp_path):
    """A real SIGTERM during `qmoe diagnose`'s trainability scan: a clean stop within 2 s,
    the finished cells kept, and the same command computes only the missing ones, giving
    what an uninterrupted scan gives."""
    out, log = tmp_path / "diag", tmp_path / "stderr.txt"
    args = ["diagnose", "--scan", "trainability", "--qubits", "2-9", "--layers", "4",
            "--ansatz", "ry_cz", "--init", "uniform", "--samples", "60"]  # fmt: skip
    proc = _start([*args, "--out", out], log)
    cells = lambda: sorted(out.glob(".*/cells/*.json")) + sorted(out.glob("*/cells/*.json"))  # noqa: E731
    _wait_for(lambda: len(cells()) >= 2)
    seconds, _ = _interrupt(proc, signal.SIGTERM, False)
    assert seconds < STOP_WITHIN, f"stopped {seconds:.2f} s after SIGTERM"
    assert proc.returncode == 143
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert "finished cells are kept in" in lines[-1], lines[-1]
    kept = {p.name: p.stat().st_mtime_ns for p in cells()}
    assert 2 <= len(kept) < 16  # 8 qubit counts x 2 costs, interrupted midway

    rerun = subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *args, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    done = only_complete_run(out)
    for path in (done / "cells").iterdir():  # the kept cells untouched, not recomputed
        if path.name in kept:
            assert path.stat().st_mtime_ns == kept[path.name], path.name
    fresh = tmp_path / "fresh"
    subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *args, "--out", str(fresh)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    resumed, whole = read_record(done), read_record(only_complete_run(fresh))
    assert [r.model_dump() for r in resumed.trainability] == [
        r.model_dump() for r in whole.trainability
    ]
