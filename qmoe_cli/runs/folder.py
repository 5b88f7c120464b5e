"""Run folders: written under a temporary name, renamed into place only when complete.

    <out>/<YYYYmmdd-HHMMSS>-<name>-<id>/        a finished run (id: hash of the resolved config)
    <out>/.<YYYYmmdd-HHMMSS>-<name>-<id>.tmp/   being written, or killed part-way
    <out>/<YYYYmmdd-HHMMSS>-<name>-<id>.failed/ an exception stopped it (error.txt says why)

Only the first kind counts as a run anywhere in qmoe.

Group commands (train, ablate, noise-sweep, efficiency) are resumable: each training is its
own seed folder, renamed into place when written whole (runs/cells.py: write_cell), so an
interrupted or failed group keeps every training that finished. Run again with the same
config and `--out`, the newest `.failed` (or abandoned `.tmp`) folder of that config (same
name, same config id, same config.yaml) is taken up again under its own name and only the
missing trainings run (`--resume RUN_DIR` names the folder). A `.tmp` folder whose writer
is alive (`.owner.json`: host and pid) is never taken.

Files are written whole or not at all (`write_text`: a hidden `.<name>.part` sibling renamed
over the file), and a file that cannot be written or read is one RunFolderError naming it
("cannot write PATH: No space left on device"), never a traceback. When the disk fills up
part-way the folder still ends as `.failed` (or, if even that rename fails, as the hidden
`.tmp`), never as a complete run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from qmoe_cli import files
from qmoe_cli.errors import NothingToDo, QmoeError, RunFolderError
from qmoe_cli.schema import json_finite

PACKAGES = (
    "qmoe-cli",
    "torch",
    "numpy",
    "scipy",
    "scikit-learn",
    "pydantic",
    "typer",
    "rich",
    "matplotlib",
    "pennylane",
    "pennylane-lightning",
    "pennylane-qiskit",
    "qiskit",
    "qiskit-aer",
    "qiskit-ibm-runtime",
    "submitit",
    "mlxtend",
)
COMPLETE_MARKER = "metrics.json"


def config_id(config_text: str) -> str:
    return hashlib.sha256(config_text.encode()).hexdigest()[:8]


class RunFolder:
    """A run folder filled under a temporary name and renamed when the `with` block succeeds.

    Inside the block `path` is the temporary folder; afterwards it is the final one. An
    exception renames it to `<final>.failed/` with the traceback in error.txt, so nothing
    written is lost and nothing unfinished looks complete. A killed process leaves the
    hidden `.tmp` folder behind.
    """

    def __init__(
        self,
        out_dir: str | Path,
        name: str,
        config_text: str,
        with_id: bool = True,
        resumable: bool = False,
        resume: Path | None = None,
    ):
        """`resumable`: take up the newest unfinished folder of this very config in
        `out_dir` if there is one (`resume`: that folder, named by the user)."""
        out = writable_dir(out_dir)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        if with_id:  # the config's hash; off for folders that read runs rather than a config
            stem += f"-{config_id(config_text)}"
        if resume is not None:
            earlier = check_resumable(resume, config_text)
        elif resumable:
            earlier = find_resumable(out, name, config_text)
        else:
            earlier = None
        self.resumed_from = earlier
        if earlier is not None:  # taken up under its own name
            out, stem = earlier.parent, unfinished_stem(earlier.name)
            taken = (out / stem).exists() or (
                (out / f".{stem}.tmp").exists() and earlier.name != f".{stem}.tmp"
            )
            self.final = _free_name(out, stem) if taken else out / stem
        else:
            self.final = _free_name(out, stem)
        self.out = out
        if self.final.resolve().parent != out.resolve():
            raise RunFolderError(f"run name {name!r} would leave the output directory {out}")
        self.path = out / f".{self.final.name}.tmp"
        try:
            if earlier is not None:
                if earlier != self.path:
                    earlier.rename(self.path)
                (self.path / "error.txt").unlink(missing_ok=True)
            else:
                self.path.mkdir()
        except OSError as exc:
            raise write_error(self.path, exc) from None
        try:
            write_json(self.path / OWNER, owner())
            write_text(self.path / "config.yaml", config_text)
        except RunFolderError as exc:
            written = str(self.path)
            self._mark_failed(f"{exc}\n")
            raise RunFolderError(str(exc).replace(written, str(self.path))) from None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            written = str(self.path)
            self._mark_failed("".join(traceback.format_exception(exc_type, exc, tb)))
            moved = str(self.path) != written
            if isinstance(exc, RunFolderError) and moved and written in str(exc):
                # name the file where the folder is now (`<final>.failed/`), not where it was
                raise RunFolderError(str(exc).replace(written, str(self.path))) from None
            if isinstance(exc, KeyboardInterrupt):
                exc.folder = self.path  # the CLI says where the finished trainings are
                return
            if isinstance(exc, QmoeError):
                return
            if isinstance(exc, OSError) and exc.strerror:  # not turned into a line where raised
                raise RunFolderError(f"{exc.filename or self.path}: {exc.strerror}") from None
            if _disk_full(self.out):  # e.g. torch.save's RuntimeError on a full disk
                raise RunFolderError(
                    f"cannot write {self.path}: No space left on device "
                    f"({type(exc).__name__} while writing)"
                ) from None
            return
        if self.final.exists():  # another process took the name meanwhile: never overwrite
            self.final = _free_name(self.out, self.final.name)
        with contextlib.suppress(OSError):
            (self.path / OWNER).unlink()
        try:
            self.path = self.path.rename(self.final)  # the commit point
        except OSError as exc:
            self._mark_failed(f"cannot rename {self.path} to {self.final}: {exc.strerror}\n")
            raise write_error(self.final, exc) from None

    def _mark_failed(self, error_text: str) -> None:
        """Rename the folder to `<final>.failed/` with `error_text` in error.txt, as far as
        the disk allows: on a full disk error.txt may be missing or cut short, and if even
        the rename fails the folder stays the hidden, unfinished `.tmp` one."""
        with contextlib.suppress(OSError):
            (self.path / "error.txt").write_text(error_text)
        with contextlib.suppress(OSError):
            (self.path / OWNER).unlink()
        with contextlib.suppress(OSError):
            self.path = self.path.rename(_free_name(self.out, self.final.name + ".failed"))


OWNER = ".owner.json"  # in a folder being written: who writes it (host, pid, SLURM job)


def owner() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "started": time.time(),
    }


def owner_alive(owner_file: Path) -> bool:
    """Whether the process (on this host) or SLURM job named in an owner file still runs."""
    try:
        who = json.loads(files.read_text(owner_file, 2**16))
    except (OSError, ValueError, files.Refused):
        return False
    if not isinstance(who, dict):
        return False
    if who.get("slurm_job") and shutil.which("squeue"):
        found = subprocess.run(
            ["squeue", "-h", "-j", str(who["slurm_job"])], capture_output=True, text=True
        )
        return bool(found.stdout.strip())
    if who.get("host") != socket.gethostname():
        return False
    import psutil

    try:
        # a killed worker whose parent died too stays a zombie until init reaps it, which
        # in a container may be never: it writes nothing any more
        return psutil.Process(int(who["pid"])).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError, KeyError, TypeError):
        return False


_UNFINISHED = re.compile(r"^\.?(?P<stem>\d{8}-\d{6}-.+?)(?:\.failed(?:-\d+)?|\.tmp)$")


def unfinished_stem(folder_name: str) -> str:
    """`<stem>` of `<stem>.failed`, `<stem>.failed-2` or `.<stem>.tmp`."""
    match = _UNFINISHED.match(folder_name)
    if match is None:
        raise RunFolderError(f"not an unfinished run folder: {folder_name}")
    return match.group("stem")


def _of_config(stem: str, folder: Path, name: str, config_text: str) -> bool:
    """Is `folder` (named `<stem>` plus any unfinished suffix) a run of this very config:
    name, config id and config.yaml all the same?"""
    suffix = f"-{name}-{config_id(config_text)}"
    if not (stem.endswith(suffix) or re.search(re.escape(suffix) + r"-\d+$", stem)):
        return False
    try:
        return read_text(folder / "config.yaml") == config_text
    except RunFolderError:
        return False


def find_resumable(out: Path, name: str, config_text: str) -> Path | None:
    """The newest `.failed` or abandoned `.tmp` folder in `out` of this very config (name,
    config id and config.yaml all the same), or None."""
    found = []
    for child in out.iterdir():
        match = _UNFINISHED.match(child.name)
        if match is None or not child.is_dir():
            continue
        if child.name.endswith(".tmp") and owner_alive(child / OWNER):
            continue  # another qmoe is writing it
        if _of_config(match.group("stem"), child, name, config_text):
            found.append(child)
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def find_complete(out: Path, name: str, config_text: str) -> Path | None:
    """The newest complete run folder in `out` of this very config, or None."""
    if not out.is_dir():
        return None
    found = [
        child
        for child in out.iterdir()
        if is_complete_run(child) and _of_config(child.name, child, name, config_text)
    ]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def check_resumable(folder: Path, config_text: str) -> Path:
    """`--resume RUN_DIR`: the folder, if it is an unfinished run of this very config."""
    if not folder.is_dir():
        raise RunFolderError(f"--resume: run folder not found: {folder}")
    complete = is_complete_run(folder)
    if not complete and _UNFINISHED.match(folder.name) is None:
        raise RunFolderError(
            f"--resume: {folder} is not an unfinished run folder (<name>.failed or .<name>.tmp)"
        )
    if not complete and folder.name.endswith(".tmp") and owner_alive(folder / OWNER):
        raise RunFolderError(f"--resume: {folder} is being written by a running qmoe")
    earlier = read_text(folder / "config.yaml")
    if earlier != config_text:
        old, new = earlier.splitlines(), config_text.splitlines()
        line = next(
            (f"{a!r} there, {b!r} here" for a, b in zip(old, new, strict=False) if a != b),
            "different lengths",
        )
        raise RunFolderError(
            f"--resume: {folder}/config.yaml is not the config given ({line}); "
            "resume with the config (and --set/--seeds) the run was started with"
        )
    if complete:
        raise NothingToDo(f"nothing to do: {folder} is complete (every training is done)")
    return folder


def write_error(path: str | Path, exc: OSError) -> RunFolderError:
    """The one line for a file or folder that cannot be written."""
    return RunFolderError(f"cannot write {path}: {exc.strerror or exc}")


def read_error(path: str | Path, exc: OSError | UnicodeDecodeError) -> RunFolderError:
    """The one line for a file that cannot be read (missing, a folder, no permission,
    binary)."""
    if isinstance(exc, FileNotFoundError):
        return RunFolderError(f"missing file: {path}")
    if isinstance(exc, IsADirectoryError):
        return RunFolderError(f"cannot read {path}: a folder, not a file")
    if isinstance(exc, UnicodeDecodeError):
        return RunFolderError(
            f"cannot read {path}: not UTF-8 text (byte {exc.start}); binary or corrupted"
        )
    return RunFolderError(f"cannot read {path}: {exc.strerror or exc}")


def _disk_full(path: Path) -> bool:
    """Whether the filesystem holding `path` has less than one block left."""
    try:
        return shutil.disk_usage(path).free < 4096
    except OSError:
        return False


def write_text(path: str | Path, text: str, newline: str | None = None) -> None:
    """Write `text` whole or not at all: into a hidden `.<name>.part` sibling, then renamed
    over `path`. An OSError (a full disk, no permission) is a RunFolderError naming `path`,
    and the part file is removed."""
    path = Path(path)
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("w", newline=newline) as fh:
            fh.write(text)
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def writable_dir(path: str | Path) -> Path:
    """Create the directory if needed; a clear RunFolderError when it cannot be written."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create output directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise RunFolderError(f"output directory is not writable: {out}")
    return out


def _free_name(out: Path, base: str) -> Path:
    candidate, i = out / base, 2
    while candidate.exists() or (out / f".{candidate.name}.tmp").exists():
        candidate, i = out / f"{base}-{i}", i + 1
    return candidate


def is_complete_run(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and not path.name.endswith(".failed")
        and (path / COMPLETE_MARKER).is_file()
    )


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(json_finite(data), indent=2, sort_keys=False) + "\n")


# A run folder's largest file is a sweep's CSV of every point and seed: tens of MB at most.
MAX_RUN_FILE_BYTES = 256 * 2**20


def read_text(path: str | Path, newline: str | None = None) -> str:
    """A text file's content (a regular file of at most MAX_RUN_FILE_BYTES); one
    RunFolderError naming it when it cannot be read."""
    try:
        return files.read_text(path, MAX_RUN_FILE_BYTES, newline=newline)
    except files.Refused as exc:
        raise RunFolderError(f"cannot read {path}: {exc.reason}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise read_error(path, exc) from None


def read_json(path: Path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise RunFolderError(f"{path}: not valid JSON (nested too deeply)") from None


def load_checkpoint(path: Path) -> dict:
    """A seed's model.pt as a state dict, loaded with weights_only=True (tensors and plain
    containers; nothing in the file is executed). A file that does not load is one
    RunFolderError naming it and the command that trains that seed again."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch's own advice on a file it refuses: not ours
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFolderError(f"missing file: {path}") from None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        # torch's own message suggests weights_only=False, which would execute the file
        reason = "corrupt, or not a state dict of tensors"
        raise CorruptFile(f"cannot load {path}: {reason} ({type(exc).__name__})", path) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptFile(f"cannot load {path}: not a state dict", path)
    return state


class CorruptFile(RunFolderError):
    """A seed's file that exists but cannot be used: `problem` says what, the message adds
    how to train that seed again."""

    def __init__(self, problem: str, path: Path):
        super().__init__(f"{problem}; {retrain_hint(path)}")
        self.problem = problem


def retrain_hint(path: Path) -> str:
    """How to train the seed whose file `path` is again: its run's (or variant's) config
    with that seed, as a new run."""
    seed_dir = path.parent
    seed = seed_dir.name.removeprefix("seed-")
    config = next(
        (p / "config.yaml" for p in seed_dir.parents if (p / "config.yaml").is_file()), None
    )
    if config is None or not seed.isdigit():
        return "train it again"
    return f"train it again with `qmoe run {config} --seeds {seed}`"


def write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO(newline="")
    if rows:
        fields: list[str] = []
        for row in rows:
            fields += [k for k in row if k not in fields]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buffer.getvalue(), newline="")


def read_csv(path: Path) -> list[dict]:
    text = read_text(path, newline="")
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise RunFolderError(f"{path}: not valid CSV ({exc})") from None


def environment(argv: list[str] | None = None) -> dict:
    """What produced a run: interpreter, packages, git revision, host, command line."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "packages": versions,
        "git": git_revision(),
        "command": " ".join(argv if argv is not None else sys.argv),
        "cwd": os.getcwd(),
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def git_revision() -> dict | None:
    """The revision of the qmoe checkout, if it is one (None for an installed wheel)."""
    import qmoe_cli

    root = Path(qmoe_cli.__file__).resolve().parent.parent  # the checkout holding the package
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
