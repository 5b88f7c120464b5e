"""The offline fake IBM devices of qiskit_ibm_runtime.fake_provider, listed once per process
(the import takes about a second: done only when a config names one)."""

from __future__ import annotations

from functools import lru_cache


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
