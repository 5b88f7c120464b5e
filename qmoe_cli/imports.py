"""Heavy imports with the cyclic garbage collector paused.

torch and scikit-learn (which imports scipy.stats and pandas) build about 300,000 objects
while they import. CPython's collector counts allocations, so it runs five full collections
over them along the way, each over a larger heap: a share of a one-seed `qmoe train` worth
saving (docs/performance.md, "Start-up"). None of them can free anything: modules, classes
and functions live as long as the process. `heavy_imports()` pauses the collector around
such imports, then freezes what is there (gc.freeze): later collections skip it and look
only at what the run itself makes. The CLI wraps each command's first heavy import in it; a
worker process pauses the collector when it starts and resumes it before its first call
(qmoe_cli/workers.py).

Objects that are garbage when the freeze comes are kept for the life of the process: the few
cycles left by parsing a config. A test process that calls the CLI many times unfreezes
after each test (tests/conftest.py).
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heavy_imports() -> Iterator[None]:
    """Import inside this block with the collector paused; on leaving, freeze and resume.
    Stop signals are held meanwhile (`signals_held`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with signals_held():
            yield
    finally:
        resume(enabled)


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP end the process at once inside the block, with one line.

    torch's import runs Python from C++ (pybind11): an exception that a Python signal
    handler raises there escapes as a C++ exception and aborts the process (SIGABRT, a core
    dump); holding the signal until the import ends would take as long as the import. The heavy
    imports come before a command starts its work (or after it has written it), so there is
    nothing to clean up. Signals whose action is the default or ignore are left as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            saved[sig] = handler
            signal.signal(sig, _exit_now)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _exit_now(signum: int, frame) -> None:
    line = f"interrupted ({signal.Signals(signum).name}) while loading libraries\n"
    try:
        os.write(2, line.encode())
    except OSError:  # a hung-up terminal
        pass
    os._exit(128 + signum)


def pause() -> None:
    """The collector off until `resume()` (a worker, before its calls import torch)."""
    gc.disable()


def resume(enabled: bool = True) -> None:
    """Freeze every object there is, then turn the collector back on (if `enabled`)."""
    gc.freeze()
    if enabled:
        gc.enable()
