"""Worker processes that stop when asked: the pool every experiment uses, and the signals.

`install_signal_handlers()` (the CLI calls it) turns SIGINT, SIGTERM and SIGHUP (a closed
terminal or ssh session) into `Interrupted` in the main thread, once: a second signal during
the clean-up is ignored so that the clean-up finishes. `map_calls` runs calls in spawn worker
processes; when anything stops it (an interrupt, an error in one call) the workers are
terminated and reaped before the exception goes on, queued calls never start, and the calls
that finished have already been handed to `on_result`. Workers ignore SIGINT and SIGHUP: a
Ctrl-C or a hang-up reaches the whole process group, and the parent decides.

A parent that cannot decide (killed with SIGKILL, or crashed) takes its workers with it:
on Linux the kernel sends each worker SIGKILL when its parent dies (PR_SET_PDEATHSIG),
elsewhere a thread in the worker waits on the pipe its parent holds open and kills the
worker when it closes (`_die_with_parent`).

Per-epoch progress from workers travels through one queue given to each worker when it
starts (a multiprocessing queue cannot be passed with a call); `report_epoch(row)` in a
worker puts (call index, item) on it, and a thread in the parent hands them to the current
`on_epoch`.

The pool outlives a `map_calls` that ends normally: the next one with as many workers (the
next experiment of `qmoe run`) takes it up warm, since a spawn worker spends seconds
importing torch and scikit-learn before its first call. `shutdown()` (the CLI calls it on
exit) ends it; an error or an interrupt ends it at once, as above.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from qmoe_cli import imports
from qmoe_cli.errors import Interrupted

REAP_SECONDS = 1.0  # terminate, then wait this long before SIGKILL

_handled = False
_terminals: set[int] = set()  # of stdout (1) and stderr (2), those that were a terminal


_pending: Interrupted | None = None  # raised, and not yet seen by the CLI


def _raise_interrupted(signum, frame) -> None:
    global _handled, _pending
    if _handled:  # the first one is being handled: let its clean-up finish
        return
    _handled = True
    if signum == signal.SIGHUP:
        _leave_hung_up_terminal()
    _pending = Interrupted(signum, signal.Signals(signum).name)
    raise _pending


def raise_if_interrupted() -> None:
    """Raise again an interrupt whose exception was swallowed where the signal landed:
    Python prints and drops an exception raised in a C callback (Numba's cache notifier) or
    a destructor, and the command would run on. Called where work loops."""
    if _pending is not None:
        raise _pending


def interrupt_seen() -> Interrupted | None:
    """The CLI has the interrupt in hand; returns it (None when there was none)."""
    global _pending
    seen, _pending = _pending, None
    return seen


def _leave_hung_up_terminal() -> None:
    """Point stdout and stderr at /dev/null when they were a terminal that has hung up:
    every write there fails (EIO), and the clean-up (a progress bar's last frame, the
    message) must not fail with it. A terminal still there (`kill -HUP`) is kept."""
    for fd in (1, 2):
        if fd in _terminals and not os.isatty(fd):  # a hung-up terminal answers no ioctl
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
            except OSError:
                pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP raise `Interrupted` (exit codes 130, 143 and 129) in the
    main thread. A signal ignored when qmoe started stays ignored (`nohup qmoe ...` runs on
    after a hang-up)."""
    if threading.current_thread() is not threading.main_thread():
        return
    global _handled, _terminals, _pending
    _handled, _pending = False, None
    _terminals = {fd for fd in (1, 2) if os.isatty(fd)}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_interrupted)


_deferred: int | None = None  # a stop signal that came while the command was ending


def _remember(signum, frame) -> None:
    global _deferred
    _deferred = signum
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once


def end_of_command() -> int | None:
    """End the kept pool with stop signals remembered, not raised: the command's work is
    done, and an exception raised in the middle of the shutdown (in a weakref callback, in
    the interpreter's own clean-up) would be a traceback or lost. Then the default action
    again. Returns the signal that came meanwhile, if one did."""
    global _deferred
    _deferred = None
    main = threading.current_thread() is threading.main_thread()
    for sig in STOP_SIGNALS if main else ():
        if signal.getsignal(sig) is _raise_interrupted:
            signal.signal(sig, _remember)
    shutdown()
    for sig in STOP_SIGNALS if main else ():
        if signal.getsignal(sig) in (_raise_interrupted, _remember):
            signal.signal(sig, signal.SIG_DFL)
    return _deferred


# --- in a worker ------------------------------------------------------------------------------

_events = None  # the parent's queue, in a worker process
_call = (-1, -1)  # (map_calls generation, call index) this worker runs now


PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


def _init_worker(events, kernel_watch: bool) -> None:
    global _events
    _die_with_parent(kernel_watch)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _events = events
    imports.pause()  # the first call's unpickling imports torch and scikit-learn: no collections


def _die_with_parent(kernel_watch: bool) -> None:
    """Make this worker die when the parent process does, however the parent ends.

    `kernel_watch`: the parent started this worker from its main thread, so the kernel's
    parent-death signal can be used (it fires when the *thread* that started the child
    ends, which for the main thread is the process)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if kernel_watch and sys.platform == "linux" and _set_pdeathsig(signal.SIGKILL):
        if os.getppid() != parent.pid:  # it died before the request: nobody will signal
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _set_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent) -> None:
    parent.join()  # returns when the parent's end of the spawn pipe closes: it has died
    os.kill(os.getpid(), signal.SIGKILL)


def _run_call(generation: int, index: int, fn: Callable, args: tuple) -> Any:
    global _call
    if not gc.isenabled():  # the first call: its imports are done
        imports.resume()
    _call = (generation, index)
    return fn(*args)


def report_epoch(item) -> None:
    """In a worker: send one epoch's progress (any picklable item, e.g. the model's index in
    the call and its history row) to the parent's on_epoch(call index, item)."""
    if _events is not None:
        _events.put((*_call, item))


# --- in the parent ----------------------------------------------------------------------------


class _Pool:
    """The spawn pool, its progress queue, and the thread that hands events to the
    current map_calls' on_epoch (events of an earlier generation are dropped)."""

    def __init__(self, jobs: int):
        ctx = multiprocessing.get_context("spawn")  # fork can hang after torch used threads
        self.jobs, self.generation, self.on_epoch = jobs, 0, None
        self.flushed, self.flushed_token = threading.Condition(), None
        self.events = ctx.Queue()
        # workers start in submit(), so in the thread that calls map_calls (CPython 3.11+
        # with spawn): the kernel's watch is right only when that is the main thread
        self.thread = threading.current_thread()
        kernel_watch = self.thread is threading.main_thread()
        self.executor = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.events, kernel_watch),
        )
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        while True:
            try:
                item = self.events.get()
            except (EOFError, OSError, ValueError):
                return
            if item is None:
                return
            generation, index, payload = item
            if index == _FLUSHED:
                with self.flushed:
                    self.flushed_token = payload
                    self.flushed.notify_all()
                continue
            on_epoch = self.on_epoch
            if generation == self.generation and on_epoch is not None:
                on_epoch(index, payload)

    def flush(self) -> None:
        """Wait (a second at most) until the events sent before now have been handed on."""
        token = self.generation
        self.events.put((token, _FLUSHED, token))
        with self.flushed:
            self.flushed.wait_for(lambda: self.flushed_token == token, timeout=REAP_SECONDS)

    def close(self, kill: bool) -> None:
        if kill:
            stop(self.executor)
        else:
            self.executor.shutdown(wait=True)
        self.events.put(None)
        self.drain.join(timeout=1.0)
        self.events.close()
        self.events.cancel_join_thread()


_pool: _Pool | None = None
_FLUSHED = "flushed"  # an event's index: the parent's marker (see _Pool.flush)


def map_calls(
    fn: Callable,
    calls: Sequence[tuple],
    jobs: int,
    on_result: Callable[[int, Any], None],
    on_epoch: Callable[[int, Any], None] | None = None,
) -> None:
    """fn(*args) for each args of `calls`, `jobs` at a time in spawn worker processes;
    on_result(index, result) in this process as each one finishes (in any order). `fn` and
    its arguments must pickle (a module-level function). The first exception of a call, or
    an interrupt, stops every worker and is raised here."""
    global _pool
    if _pool is not None and (_pool.jobs != jobs or _pool.thread is not threading.current_thread()):
        shutdown()
    if _pool is None:
        _pool = _Pool(jobs)
    pool = _pool
    pool.generation += 1
    pool.on_epoch = on_epoch
    try:
        futures = {
            pool.executor.submit(_run_call, pool.generation, i, fn, args): i
            for i, args in enumerate(calls)
        }
        pending = set(futures)
        while pending:
            # a timeout keeps the main thread returning to Python, where signals are handled
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(futures[future], future.result())
            raise_if_interrupted()
    except BaseException:
        _pool = None
        pool.close(kill=True)
        raise
    else:
        if on_epoch is not None:
            pool.flush()
    finally:
        pool.on_epoch = None


def shutdown() -> None:
    """End the kept pool (its workers exit once idle, and are waited for)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        try:
            pool.close(kill=False)
        except KeyboardInterrupt:  # a signal while it winds down: end it at once instead
            pool.close(kill=True)
            raise


_stuck: list[threading.Thread] = []  # stopped pools' manager threads that did not end


def stuck_threads() -> list[threading.Thread]:
    """The manager threads of stopped pools still running: the interpreter's exit would wait
    for them (cli.app.run then ends the process at once)."""
    return [t for t in _stuck if t.is_alive()]


def stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers, reap them (SIGKILL after REAP_SECONDS), drop queued
    calls: no process outlives the command."""
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:  # its feeder may be blocked writing to a worker we kill:
        call_queue.cancel_join_thread()  # the manager thread must not wait for it
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + REAP_SECONDS
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join(REAP_SECONDS)
    # The pool's manager thread may still be unpickling a last result, which can import a
    # library (Numba for a circuit kernel); left to the interpreter's exit, that import and
    # the exit's join of the thread deadlocked once (a process that never ended after
    # SIGHUP). Let it finish now, while the main thread is still running.
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None and manager is not threading.current_thread():
        manager.join(REAP_SECONDS)
        if manager.is_alive():  # still importing, or reading a result its worker never
            _stuck.append(manager)  # finished: the exit must not wait for it
