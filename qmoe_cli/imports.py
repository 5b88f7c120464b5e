"""Heavy imports with the cyclic garbage collector paused.

torch and scikit-learn (which imports scipy.stats and pandas) build about 300,000 objects while
they import. CPython's collector counts allocations, so it runs five full collections over
them along the way, each over a larger heap: 0.4 s of a one-seed `qmoe train` (measured with
gc.callbacks). None of them can free anything: modules, classes and functions live as long
as the process. `heavy_imports()` pauses the collector around such imports, then freezes what
is there (gc.freeze): later collections skip it and look only at what the run itself makes.
The CLI wraps each command's first heavy import in it; a worker process pauses the collector
when it starts and resumes it before its first call (qmoe_cli/workers.py).

Objects that are garbage when the freeze comes are kept for the life of the process: the few
cycles left by parsing a config. A test process that calls the CLI many times unfreezes
after each test (tests/conftest.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heavy_imports() -> Iterator[None]:
    """Import inside this block with the collector paused; on leaving, freeze and resume."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        resume(enabled)


def pause() -> None:
    """The collector off until `resume()` (a worker, before its calls import torch)."""
    gc.disable()


def resume(enabled: bool = True) -> None:
    """Freeze every object there is, then turn the collector back on (if `enabled`)."""
    gc.freeze()
    if enabled:
        gc.enable()
