"""The worker pool: kept warm between map_calls, ended on errors and at shutdown."""

import os

import pytest

from qmoe_cli import workers


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
