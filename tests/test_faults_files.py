"""File faults: a full disk, unreadable run files, a grid too large to simulate, empty --out.

Each is one `error:` line naming the file (or option) and an exit code, never a traceback,
and never a run folder that looks complete.
"""

import errno
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch

from qmoe_cli import figures, records, runs
from qmoe_cli.errors import RunFolderError
from qmoe_cli.runs import is_complete_run

from .conftest import TINY

ENOSPC = "No space left on device"
QUANTUM_TINY = {
    **TINY,
    "name": "tinyq",
    "model": {"router": {"type": "quantum", "qubits": 2, "layers": 1}, "experts": {"count": 2}},
    "train": {"epochs": 1, "batch_size": 16},
}


def _one_error_line(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _nothing_complete(folder: pathlib.Path) -> None:
    found = list(folder.iterdir()) if folder.exists() else []
    assert not [p for p in found if is_complete_run(p)], found
    for p in folder.rglob("*") if folder.exists() else []:  # no half-written file left
        assert not p.name.endswith(".part"), p


class _FullFile:
    """An open file on a full disk: every write fails with ENOSPC."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        raise OSError(errno.ENOSPC, ENOSPC)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _disk_full_at(monkeypatch, name: str) -> None:
    """Writing a file named `name` (or its `.name.part` temporary) fails: ENOSPC."""
    real_open = pathlib.Path.open

    def open_(self, mode="r", *args, **kwargs):
        fh = real_open(self, mode, *args, **kwargs)
        if "w" in mode and self.name in (name, f".{name}.part"):
            return _FullFile(fh)
        return fh

    monkeypatch.setattr(pathlib.Path, "open", open_)
    if name.endswith(".png"):  # matplotlib writes PNGs through PIL

        def save(image, fp, *args, **kwargs):
            raise OSError(errno.ENOSPC, ENOSPC)

        monkeypatch.setattr("PIL.Image.Image.save", save)


# --- 1. a full disk ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["config.yaml", "env.json", "metrics.json", "history.csv", "decision_boundary.png"]
)
def test_a_full_disk_is_one_line_naming_the_file_and_no_complete_run(
    tmp_path, write_config, cli, monkeypatch, name
):
    out = tmp_path / "runs"
    _disk_full_at(monkeypatch, name)
    line = _one_error_line(cli("train", write_config(), "--out", out), 1)
    assert line.startswith("error: cannot write ") and line.endswith(f"{name}: {ENOSPC}"), line
    _nothing_complete(out)
    failed = [p for p in out.iterdir() if p.name.endswith(".failed")]
    assert len(failed) == 1, list(out.iterdir())
    assert str(failed[0]) in line, line  # named where it is now, not in the gone .tmp folder
    if name == "config.yaml":  # never a 0-byte config.yaml
        assert not (failed[0] / "config.yaml").exists()


def test_an_unnamed_os_error_is_still_one_line(tmp_path, write_config, cli, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, ENOSPC, str(tmp_path / "somewhere.bin"))

    monkeypatch.setattr("qmoe_cli.experiments.train.run", full)
    line = _one_error_line(cli("train", write_config(), "--out", tmp_path), 1)
    assert line == f"error: {tmp_path / 'somewhere.bin'}: {ENOSPC}"


def test_a_run_folder_on_a_full_disk_ends_failed_not_complete(tmp_path, monkeypatch):
    # torch.save says RuntimeError, not OSError, when the disk fills: the folder still fails,
    # and the error says why
    monkeypatch.setattr(runs.folder, "_disk_full", lambda path: True)
    with pytest.raises(RunFolderError, match=ENOSPC), runs.RunFolder(tmp_path, "x", "a: 1\n"):
        raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos")
    (folder,) = tmp_path.iterdir()
    assert folder.name.endswith(".failed") and not is_complete_run(folder)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 200 KB tmpfs (needs root and mount; skipped without)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _fill(folder: pathlib.Path, leave: int) -> None:
    """Fill the filesystem until `leave` bytes (or fewer) are free."""
    with open(folder / "filler", "wb") as fh:
        try:
            while shutil.disk_usage(folder).free > leave:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass


@pytest.mark.parametrize("leave", [0, 48 * 1024])
def test_a_real_full_filesystem_is_one_line_and_no_complete_run(
    small_tmpfs, write_config, cli, leave
):
    _fill(small_tmpfs, leave)
    line = _one_error_line(cli("train", write_config(), "--out", small_tmpfs), 1)
    assert ENOSPC in line and str(small_tmpfs) in line, line
    _nothing_complete(small_tmpfs)
    for p in small_tmpfs.rglob("config.yaml"):
        assert p.stat().st_size > 0, p


# --- 2. unreadable run files -----------------------------------------------------------------


def _spoil(file: pathlib.Path, how: str) -> None:
    if how == "binary":
        file.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 10)
    elif how == "truncated":
        file.write_text(file.read_text()[: len(file.read_text()) // 2])
    elif how == "directory":
        file.unlink()
        file.mkdir()
    elif how == "unreadable":
        file.chmod(0)
    elif how == "device":  # size 0 to stat(), endless to read
        file.unlink()
        file.symlink_to("/dev/zero")


MESSAGES = {
    "binary": "not UTF-8 text",
    "truncated": "not valid JSON",
    "directory": "a folder, not a file",
    "unreadable": "Permission denied",
    "device": "a character device, not a regular file",
}


def _skip_if_root_reads(how):
    if how == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads a file without read permission")


@pytest.mark.parametrize("how", list(MESSAGES))
@pytest.mark.parametrize("reader", [runs.read_json, records.read_record])
def test_an_unreadable_json_file_is_one_error_naming_it(tmp_path, how, reader):
    _skip_if_root_reads(how)
    file = tmp_path / "metrics.json"
    file.write_text(json.dumps({"command": "train", "x": "y" * 100}))
    _spoil(file, how)
    with pytest.raises(RunFolderError) as caught:
        reader(file)
    message = str(caught.value)
    assert str(file) in message and MESSAGES[how] in message and "\n" not in message


@pytest.mark.parametrize("how", ["binary", "truncated", "unreadable", "device"])
def test_an_unreadable_csv_is_one_error_naming_it(tmp_path, how):
    _skip_if_root_reads(how)
    file = tmp_path / "summary.csv"
    runs.write_csv(file, [{"a": 1, "b": 2}])
    if how == "truncated":  # a cut CSV still reads (fewer rows): only check it does
        file.write_text("a,b\n1")
        assert runs.read_csv(file) == [{"a": "1", "b": None}]
        return
    _spoil(file, how)
    with pytest.raises(RunFolderError, match=str(file)):
        runs.read_csv(file)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from typer.testing import CliRunner
    from yaml import safe_dump

    from qmoe_cli.cli import app

    root = tmp_path_factory.mktemp("tiny_run")
    (root / "cfg.yaml").write_text(safe_dump(TINY))
    result = CliRunner().invoke(app, ["train", str(root / "cfg.yaml"), "--out", str(root / "r")])
    assert result.exit_code == 0, result.output
    (run,) = (p for p in (root / "r").iterdir() if is_complete_run(p))
    return run


@pytest.mark.parametrize("how", list(MESSAGES))
def test_report_on_an_unreadable_metrics_json_is_one_line_exit_2(tiny_run, tmp_path, cli, how):
    _skip_if_root_reads(how)
    run = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, run)
    _spoil(run / "metrics.json", how)
    out = tmp_path / "out"
    line = _one_error_line(cli("report", run, "--out", out), 2)
    if how in ("directory", "device"):  # no metrics.json file: no complete run
        assert str(run) in line and "metrics.json" in line, line
    else:
        assert str(run / "metrics.json") in line and MESSAGES[how] in line, line
    assert not out.exists()


def test_a_run_file_that_is_a_device_is_refused_not_read(tiny_run, tmp_path):
    """A config.yaml or history.csv of a run folder linked to /dev/zero: one line, at once."""
    run = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, run)
    _spoil(run / "seed-0" / "history.csv", "device")
    with pytest.raises(RunFolderError, match="history.csv: a character device"):
        runs.read_csv(run / "seed-0" / "history.csv")


@pytest.mark.parametrize("name", ["csv", "npz"])
def test_a_data_file_that_is_a_device_or_a_pipe_is_one_line(tmp_path, write_config, cli, name):
    device = tmp_path / f"zero.{name}"
    device.symlink_to("/dev/zero")
    fifo = tmp_path / f"pipe.{name}"
    os.mkfifo(fifo)
    for path, kind in ((device, "a character device"), (fifo, "a pipe")):
        cfg = {**TINY, "data": {"name": name, "path": str(path)}}
        result = cli("train", write_config(cfg), "--out", tmp_path / "runs")
        line = _one_error_line(result, 2)
        assert line == f"error: data.path: {path} is {kind}, not a regular file", line
    _nothing_complete(tmp_path / "runs")


def test_an_npz_that_unpacks_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    """A compressed member's size is bounded before it is unpacked (a zip bomb)."""
    from qmoe_cli.data import DataConfig, load_dataset, npz_file

    X = np.zeros((400, 2))
    np.savez_compressed(tmp_path / "z.npz", X=X, y=np.arange(400) % 2)
    monkeypatch.setattr(npz_file, "MAX_UNPACKED_BYTES", 4000)
    with pytest.raises(Exception, match=r"unpacks to \d+ bytes, more than 4 kB \(the limit\)"):
        load_dataset(DataConfig(name="npz", path=str(tmp_path / "z.npz")), 0)


def test_a_gzipped_idx_file_is_unpacked_only_up_to_the_limit(tmp_path, monkeypatch):
    import gzip

    from qmoe_cli.data import idx

    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    n = 5000
    path.write_bytes(gzip.compress((0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(n)))
    assert len(idx.read_idx(path, idx.IDX_LABELS_MAGIC)) == n
    idx._read_idx_cached.cache_clear()
    monkeypatch.setattr(idx, "MAX_IDX_BYTES", 1000)
    with pytest.raises(Exception, match="larger than 1 kB unpacked"):
        idx.read_idx(path, idx.IDX_LABELS_MAGIC)
    idx._read_idx_cached.cache_clear()


# --- 3. a grid too large to simulate ---------------------------------------------------------


def test_the_grid_rule():
    from qmoe_cli.config import ExperimentConfig
    from qmoe_cli.models import build_model

    def model(qubits, layers, noise=None):
        router = {"type": "quantum", "qubits": qubits, "layers": layers}
        if noise:
            router["noise"] = {"depolarizing": noise}
        cfg = {**QUANTUM_TINY, "model": {"router": router, "experts": {"count": 2}}}
        return build_model(ExperimentConfig.model_validate(cfg).model, 2, 2)

    assert figures.grid_resolution(model(2, 3)) == figures.GRID_RESOLUTION
    assert figures.grid_resolution(model(10, 3)) == figures.GRID_RESOLUTION
    assert figures.grid_resolution(model(14, 1)) == 64  # lowered, within the work budget
    assert figures.grid_resolution(model(15, 1)) >= figures.GRID_MIN_RESOLUTION
    for too_large in (model(16, 1), model(20, 1), model(14, 3), model(8, 1, noise=0.01)):
        note = figures.grid_resolution(too_large)
        assert isinstance(note, str) and "skipped" in note
        grid = figures.predict_grid(too_large, _splits())  # instantly: nothing simulated
        assert grid.note == note and grid.classes.size == 0


def _splits():
    from qmoe_cli.config import ExperimentConfig
    from qmoe_cli.data import load_dataset

    return load_dataset(ExperimentConfig.model_validate(QUANTUM_TINY).data, 0)


def test_the_grid_is_evaluated_in_bounded_chunks_with_the_same_result(monkeypatch):
    from qmoe_cli.config import ExperimentConfig
    from qmoe_cli.models import build_model

    torch.manual_seed(0)
    model = build_model(ExperimentConfig.model_validate(QUANTUM_TINY).model, 2, 2)
    splits = _splits()
    whole = figures.predict_grid(model, splits, resolution=30)
    sizes = []
    real_predict = figures.predict

    def predict(model, x):
        sizes.append(len(x))
        return real_predict(model, x)

    monkeypatch.setattr(figures, "predict", predict)
    monkeypatch.setattr(figures, "GRID_CHUNK_BYTES", 64 * 4 * 100)  # 100 points of 2 qubits
    chunked = figures.predict_grid(model, splits, resolution=30)
    assert max(sizes) == 100 and sum(sizes) == 900
    assert np.array_equal(whole.classes, chunked.classes)
    assert np.array_equal(whole.expert, chunked.expert)


def test_a_skipped_grid_is_a_note_not_a_failure(tmp_path, write_config, cli, monkeypatch):
    monkeypatch.setattr(figures, "GRID_WORK", 1)  # every quantum router is "too large"
    result = cli("train", write_config(QUANTUM_TINY), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (run,) = (p for p in tmp_path.iterdir() if is_complete_run(p))
    note = (run / "figure_note.txt").read_text()
    assert "figures skipped" in note and "2 qubits, 1 layer, statevector" in note
    assert "note: decision-boundary and routing figures skipped" in result.output
    assert not (run / "decision_boundary.png").exists() and not (run / "routing.png").exists()
    # an ablation's panels show the note instead of the map (drawn, not failed)
    grid = figures.predict_grid(_quantum_model(), _splits())
    figures.save_single(tmp_path / "panel.png", figures.plot_routing, grid, _splits(), 2, "t")
    assert (tmp_path / "panel.png").stat().st_size > 0


def _quantum_model():
    from qmoe_cli.config import ExperimentConfig
    from qmoe_cli.models import build_model

    return build_model(ExperimentConfig.model_validate(QUANTUM_TINY).model, 2, 2)


@pytest.mark.slow
def test_a_14_qubit_run_completes_with_its_figures(tmp_path, write_config, cli):
    cfg = {
        **QUANTUM_TINY,
        "name": "q14",
        "data": {"name": "two_moons", "n_samples": 40, "noise": 0.1},
        "model": {
            "router": {"type": "quantum", "qubits": 14, "layers": 1},
            "experts": {"count": 2},
        },
    }
    result = cli("train", write_config(cfg), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (run,) = (p for p in tmp_path.iterdir() if is_complete_run(p))
    assert (run / "decision_boundary.png").is_file() and (run / "routing.png").is_file()


# --- 4. options -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "ablate", "report"])
def test_an_empty_out_is_one_line_and_writes_nothing(
    tmp_path, write_config, cli, monkeypatch, command
):
    cfg = write_config()
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    line = _one_error_line(cli(command, cfg, "--out", ""), 2)
    assert line.startswith("error: --out: give a directory"), line
    assert not list(here.iterdir())


@pytest.mark.parametrize("command", ["ablate", "efficiency", "noise-sweep", "sweep"])
def test_negative_jobs_is_one_line(tmp_path, write_config, cli, command):
    line = _one_error_line(cli(command, write_config(), "--jobs", "-1", "--out", tmp_path), 2)
    assert line == "error: --jobs: expected 0 (one per core) or a positive number, got -1"
    assert not list(tmp_path.iterdir()) or all(p.suffix == ".yaml" for p in tmp_path.iterdir())
