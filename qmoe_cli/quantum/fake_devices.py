"""The offline fake IBM devices of qiskit_ibm_runtime.fake_provider, listed once per process
(a slow import, see docs/performance.md: done only when a config names one)."""

from __future__ import annotations

from difflib import get_close_matches
from functools import lru_cache

EXAMPLE = "FakeManilaV2"


@lru_cache(maxsize=1)
def fake_backend_names() -> tuple[str, ...]:
    """Class names of the fake devices, sorted."""
    import qiskit_ibm_runtime.fake_provider as provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return tuple(
        sorted(
            name
            for name, obj in vars(provider).items()
            if isinstance(obj, type) and issubclass(obj, FakeBackendV2) and obj is not FakeBackendV2
        )
    )


def check_fake_device(name: str) -> str:
    """`name` if it is a fake device, else a ValueError with the closest names (any case)."""
    try:
        names = fake_backend_names()
    except ImportError:
        raise ValueError(
            "needs qiskit-ibm-runtime, which is not installed (pip install qiskit-ibm-runtime)"
        ) from None
    if name in names:
        return name
    lower = {n.lower(): n for n in names}
    close = [lower[n] for n in get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)]
    hint = f"did you mean {', '.join(close)}?" if close else f"e.g. {EXAMPLE}"
    raise ValueError(
        f"'{name}' is not a fake device of qiskit_ibm_runtime.fake_provider "
        f"({len(names)} devices; {hint})"
    )
