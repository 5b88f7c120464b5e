"""Worker processes that stop when asked: the pool every experiment uses, and the signals.

`install_signal_handlers()` (the CLI calls it) turns SIGINT and SIGTERM into `Interrupted`
in the main thread, once: a second signal during the clean-up is ignored so that the
clean-up finishes. `map_calls` runs calls in spawn worker processes; when anything stops it
(an interrupt, an error in one call) the workers are terminated and reaped before the
exception goes on, queued calls never start, and the calls that finished have already been
handed to `on_result`. Workers ignore SIGINT: a Ctrl-C reaches the whole process group, and
the parent decides.

Per-epoch progress from workers travels through one queue given to each worker when it
starts (a multiprocessing queue cannot be passed with a call); `report_epoch(row)` in a
worker puts (call index, item) on it, and a thread in the parent hands them to `on_epoch`.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from qmoe_cli.errors import Interrupted

REAP_SECONDS = 1.0  # terminate, then wait this long before SIGKILL

_handled = False


def _raise_interrupted(signum, frame) -> None:
    global _handled
    if _handled:  # the first one is being handled: let its clean-up finish
        return
    _handled = True
    raise Interrupted(signum, signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise `Interrupted` (exit codes 130 and 143) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    global _handled
    _handled = False
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupted)


# --- in a worker ------------------------------------------------------------------------------

_events = None  # the parent's queue, in a worker process
_call_index = -1  # which call this worker runs now


def _init_worker(events) -> None:
    global _events
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _events = events


def _run_call(index: int, fn: Callable, args: tuple) -> Any:
    global _call_index
    _call_index = index
    return fn(*args)


def report_epoch(item) -> None:
    """In a worker: send one epoch's progress (any picklable item, e.g. the model's index in
    the call and its history row) to the parent's on_epoch(call index, item)."""
    if _events is not None:
        _events.put((_call_index, item))


# --- in the parent ----------------------------------------------------------------------------


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
    ctx = multiprocessing.get_context("spawn")  # fork can hang after torch used its threads
    events = ctx.Queue() if on_epoch is not None else None
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(events,)
    )
    drain = None
    if events is not None:
        drain = threading.Thread(target=_drain, args=(events, on_epoch), daemon=True)
        drain.start()
    try:
        futures = {pool.submit(_run_call, i, fn, args): i for i, args in enumerate(calls)}
        pending = set(futures)
        while pending:
            # a timeout keeps the main thread returning to Python, where signals are handled
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(futures[future], future.result())
    except BaseException:
        stop(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        if events is not None:
            events.put(None)
            drain.join(timeout=1.0)
            events.close()
            events.cancel_join_thread()


def _drain(events, on_epoch: Callable[[int, Any], None]) -> None:
    while True:
        try:
            item = events.get()
        except (EOFError, OSError, ValueError):
            return
        if item is None:
            return
        on_epoch(*item)


def stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers, reap them (SIGKILL after REAP_SECONDS), drop queued
    calls: no process outlives the command."""
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
