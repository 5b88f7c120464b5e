import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from qmoe_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent

# A config small enough to train in well under a second.
TINY = {
    "kind": "train",
    "name": "tiny",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"router": {"type": "linear"}, "experts": {"count": 2}},
    "train": {"epochs": 3, "batch_size": 16, "early_stopping": True, "patience": 2},
    "seeds": [0],
}


@pytest.fixture(scope="session", autouse=True)
def _no_system_fashion_mnist(tmp_path_factory):
    """No test sees a system-wide Fashion-MNIST (Debian's dataset-fashion-mnist) unless it
    points fashion_mnist.SYSTEM_DIR at one itself: runs without files are skipped as on any
    machine."""
    from qmoe_cli.data import fashion_mnist

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path_factory.mktemp("no-system-data"))
        yield


@pytest.fixture(autouse=True)
def _unfreeze_gc():
    """The CLI freezes every object there is once its libraries are imported (garbage
    included, qmoe_cli/imports.py), for the life of its process; this one runs it hundreds
    of times."""
    yield
    gc.unfreeze()


@pytest.fixture
def write_config(tmp_path):
    def write(data=None, name="cfg.yaml", text=None):
        path = tmp_path / name
        path.write_text(text if text is not None else yaml.safe_dump(data or TINY))
        return path

    return write


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def run_qmoe(*args, cwd=None, timeout=600):
    """The real console script in a subprocess: exit codes and stderr as a user sees them."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "qmoe_cli.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def only_complete_run(folder):
    """The single complete run folder a command wrote into `folder`."""
    from qmoe_cli.runs import is_complete_run

    runs = [p for p in folder.iterdir() if is_complete_run(p)]
    assert len(runs) == 1, list(folder.iterdir())
    return runs[0]


def run_group(cli, command, config, out, outputs=(), *extra):
    """Run `qmoe COMMAND CONFIG --out OUT --jobs 1 EXTRA...`, expect success, check that the
    one complete group folder holds every file in `outputs`; return it and the output."""
    result = cli(command, config, "--out", out, "--jobs", "1", *extra)
    assert result.exit_code == 0, result.output
    group = only_complete_run(out)
    for name in outputs:
        assert (group / name).is_file(), name
    return group, result.output
