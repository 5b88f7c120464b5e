"""The worker pool: kept warm between map_calls, ended on errors and at shutdown."""

import os
import subprocess
import sys

import pytest

from qmoe_cli import workers
from tests.conftest import ROOT


def _pid(_: int) -> int:
    return os.getpid()


def _fail(k: int) -> int:
    if k == 1:
        raise ValueError("call 1 fails")
    return k


def _with_progress(k: int) -> int:
    workers.report_epoch(("epoch", k))
    return k


def pids(n: int, jobs: int = 2) -> set[int]:
    found = {}
    workers.map_calls(_pid, [(k,) for k in range(n)], jobs, found.__setitem__)
    assert sorted(found) == list(range(n))
    return set(found.values())


def test_the_next_map_calls_takes_the_same_workers_up():
    try:
        first = pids(6)
        assert os.getpid() not in first
        assert pids(6) <= first  # no new process started
        resized = pids(4, jobs=1)  # another worker count: a new pool
        assert not resized & first
    finally:
        workers.shutdown()


def test_an_error_ends_the_pool_and_the_next_call_starts_a_new_one():
    try:
        before = pids(4)
        with pytest.raises(ValueError, match="call 1 fails"):
            workers.map_calls(_fail, [(k,) for k in range(4)], 2, lambda i, r: None)
        assert workers._pool is None
        assert not pids(4) & before
    finally:
        workers.shutdown()


def test_progress_reaches_the_on_epoch_of_its_own_call():
    events = []
    try:
        workers.map_calls(
            _with_progress,
            [(k,) for k in range(3)],
            2,
            lambda i, r: None,
            on_epoch=lambda i, item: events.append((i, item)),
        )
        # events travel through a queue: wait for the three, briefly
        import time

        deadline = time.monotonic() + 5
        while len(events) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(events) == [(k, ("epoch", k)) for k in range(3)]
    finally:
        workers.shutdown()


def test_shutdown_ends_every_worker():
    import psutil

    found = pids(4)
    workers.shutdown()
    assert workers._pool is None
    for pid in found:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


# --- a parent that dies without a word (SIGKILL) takes its workers with it --------------------

PARENT = """
import os, signal, sys, threading, time
from qmoe_cli import workers

def start():
    workers.map_calls(os.getpid, [(), ()], 2, lambda i, r: None)

if __name__ == "__main__":
    if sys.argv[1] == "thread":  # a thread that ends: the kernel's parent-death signal
        thread = threading.Thread(target=start)  # would fire now, killing the workers
        thread.start()
        thread.join()
        time.sleep(0.5)
    else:
        start()
    processes = list(workers._pool.executor._processes.values())
    print(" ".join(str(p.pid) for p in processes if p.is_alive()), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("where", ["main", "thread"])
def test_workers_die_with_a_killed_parent(tmp_path, where):
    """From the main thread the kernel signals them; started from another thread, a thread
    in each worker watches the parent's pipe."""
    import subprocess
    import sys
    import time

    import psutil

    from tests.conftest import ROOT

    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    # (not subprocess.run: it would wait for the output pipe, which the workers hold too)
    proc = subprocess.Popen([sys.executable, script, where], cwd=ROOT, stdout=subprocess.PIPE)
    with proc.stdout:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert proc.wait(timeout=120) == -9
    assert len(pids) == 2  # both workers were alive when the parent died
    deadline = time.monotonic() + 2.0
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in alive:  # nothing left behind by a failing test
        os.kill(pid, 9)
    assert alive == []


def test_a_hang_up_ignored_at_start_stays_ignored():
    """`nohup qmoe ...`: the command runs on after the terminal closes."""
    import signal

    before = {sig: signal.getsignal(sig) for sig in workers.STOP_SIGNALS}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        workers.install_signal_handlers()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is workers._raise_interrupted
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_an_interrupt_swallowed_where_it_landed_is_raised_again():
    """Python prints and drops an exception a signal handler raises inside a C callback
    (Numba's cache notifier did): the next loop of the work raises it again, and the
    CLI's clean-up hands it on once."""
    import signal

    from qmoe_cli.errors import Interrupted

    workers.install_signal_handlers()
    try:
        try:
            workers._raise_interrupted(signal.SIGTERM, None)
        except Interrupted:
            pass  # swallowed, as in a ctypes callback
        with pytest.raises(Interrupted) as caught:
            workers.raise_if_interrupted()
        assert caught.value.exit_code == 143
        assert workers.interrupt_seen() is caught.value
        workers.raise_if_interrupted()  # seen: nothing more to raise
    finally:
        workers.end_of_command()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.15, 0.3, 0.5, 0.8, 1.2, 1.7])
def test_a_signal_while_torch_imports_is_a_clean_stop_not_an_abort(tmp_path, delay):
    """torch's import runs Python from C++: an exception raised there by the handler aborted
    the process (SIGABRT, exit -6). Whenever the signal lands, the exit is 143 and one line."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from .conftest import TINY

    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {"epochs": 200, "batch_size": 16}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qmoe_cli.cli", "train", config, "--out", tmp_path / "runs"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    # -15: before qmoe had its handler (Python starting up); 0: it had finished
    assert proc.returncode in (143, -15, 0), (proc.returncode, stderr)
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr
    if proc.returncode == 143:
        assert stderr.strip().splitlines()[-1].startswith("interrupted (SIGTERM)"), stderr


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["validate", "missing.yaml"], 2)])
def test_a_stuck_manager_thread_does_not_hold_the_exit(args, code):
    """A stopped pool's manager thread that never ends (a result its killed worker never
    finished) would make the interpreter's exit wait for ever: the executable ends anyway,
    with the command's exit code and output."""
    script = (
        "import sys, threading\n"
        "from qmoe_cli import workers\n"
        "from qmoe_cli.cli.app import run\n"
        "stuck = threading.Thread(target=threading.Event().wait)  # non-daemon, for ever\n"
        "stuck.start()\n"
        "workers._stuck.append(stuck)\n"
        f"sys.argv = ['qmoe', *{args!r}]\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, done.stderr
    assert ("qmoe " in done.stdout) if code == 0 else ("missing.yaml" in done.stderr)
