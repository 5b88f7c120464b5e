"""SLURM job arrays through submitit, for the commands that use a cluster (`qmoe sweep
--executor slurm`, `qmoe tune --executor slurm`): the executor for a folder and resources,
and one submission that either goes through whole or leaves nothing behind.

A submission sbatch refuses (the controller down, a bad partition, no SLURM client at all)
is one QmoeError with sbatch's own reason, and the submitit folder of that submission is
removed: nothing was submitted, so nothing looks half-submitted."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from qmoe_cli.errors import QmoeError


def slurm_executor(folder: Path, slurm, name: str):
    """A submitit executor writing into `folder` with the resources of a `slurm:` section
    (partition, time_min, cpus_per_task, mem, array_parallelism). One QmoeError when
    submitit or the SLURM client is missing."""
    try:
        import submitit
    except ImportError:
        raise QmoeError("--executor slurm needs submitit: pip install submitit") from None
    missing = next((c for c in ("sbatch", "srun") if shutil.which(c) is None), None)
    if missing is not None:
        raise QmoeError(f"cannot submit to SLURM: {missing} not found")
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    params = dict(
        timeout_min=slurm.time_min,
        cpus_per_task=slurm.cpus_per_task,
        slurm_mem=slurm.mem,
        slurm_array_parallelism=slurm.array_parallelism,
        name=name,
    )
    if slurm.partition:
        params["slurm_partition"] = slurm.partition
    executor.update_parameters(**params)
    return executor


def submit_array(executor, folder: Path, fn: Callable, *args: list) -> list:
    """executor.map_array(fn, *args): one job array. A submission sbatch refuses is one
    QmoeError with sbatch's reason, and leaves no submitit files behind."""
    from submitit.core.utils import FailedJobError

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # submitit prints sbatch's error as well
            return executor.map_array(fn, *args)
    except (FailedJobError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # submitit/, unless an earlier submission is in it
        reason = sbatch_reason(str(exc)) or sbatch_reason(said.getvalue())
        raise QmoeError(f"cannot submit to SLURM: {reason or type(exc).__name__}") from None


def sbatch_reason(text: str) -> str:
    """The line of sbatch's error output that says why, without sbatch's prefix: the
    fatal one, else the one saying the submission failed, else the first error (sbatch
    first lists the steps that led there: DNS lookups, config sources)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for mark in ("fatal:", "submission failed", "error"):
        line = next((x for x in lines if mark in x.lower()), None)
        if line is not None:
            break
    else:
        line = lines[0] if lines else ""
    return re.sub(r"^sbatch: (?:error: |fatal: )?", "", line)
