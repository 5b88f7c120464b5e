"""Run folders: written under a temporary name, renamed into place only when complete.

    <out>/<YYYYmmdd-HHMMSS>-<name>-<id>/        a finished run (id: hash of the resolved config)
    <out>/.<YYYYmmdd-HHMMSS>-<name>-<id>.tmp/   being written, or killed part-way
    <out>/<YYYYmmdd-HHMMSS>-<name>-<id>.failed/ an exception stopped it (error.txt says why)

Only the first kind counts as a run anywhere in qmoe.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from qmoe_cli.errors import RunFolderError
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

    def __init__(self, out_dir: str | Path, name: str, config_text: str, with_id: bool = True):
        out = writable_dir(out_dir)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        if with_id:  # the config's hash; off for folders that read runs rather than a config
            stem += f"-{config_id(config_text)}"
        self.out, self.final = out, _free_name(out, stem)
        if self.final.resolve().parent != out.resolve():
            raise RunFolderError(f"run name {name!r} would leave the output directory {out}")
        self.path = out / f".{self.final.name}.tmp"
        self.path.mkdir()
        (self.path / "config.yaml").write_text(config_text)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            (self.path / "error.txt").write_text(
                "".join(traceback.format_exception(exc_type, exc, tb))
            )
            self.path = self.path.rename(_free_name(self.out, self.final.name + ".failed"))
            return
        if self.final.exists():  # another process took the name meanwhile: never overwrite
            self.final = _free_name(self.out, self.final.name)
        self.path = self.path.rename(self.final)  # the commit point


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
    path.write_text(json.dumps(json_finite(data), indent=2, sort_keys=False) + "\n")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"missing file: {path}") from None
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


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
    root = Path(__file__).resolve().parent.parent
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
