"""Quantum routers: one circuit spec, several simulators that must agree on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package is imported for targets.py by config validation: no numpy
    from qmoe_cli.quantum.spec import CircuitSpec

BACKENDS = ("torch", "pennylane", "lightning", "qiskit-aer")
TRAINABLE_BACKENDS = ("torch", "pennylane", "lightning")


def make_backend(spec: CircuitSpec, name: str = "torch", noise=None):
    """A simulator with `.probs(weights, x)` and `.outputs(weights, x)` (torch in, torch out).

    PennyLane and Qiskit are imported only when asked for: they take seconds to import.
    With noise (a NoiseSpec that is not noiseless) the torch backend simulates density
    matrices; the other backends do not take noise yet. A dephased circuit (spec.py,
    mechanism `dephased`) is no unitary circuit: torch simulates it as the Markov chain it is
    (torch_dephased.py; density matrices under noise), pennylane on default.mixed with the
    dephasing as channels; lightning (a statevector device) refuses it.
    """
    if spec.mechanism == "dephased" and name in ("pennylane", "qiskit-aer"):
        from qmoe_cli.quantum.noise import NoiseSpec

        noise = noise or NoiseSpec()
        if name == "pennylane":
            if not noise.is_noiseless:
                raise ValueError(
                    "backend 'pennylane' does not simulate noise in qmoe; use torch "
                    "(training) or qiskit-aer (evaluation)"
                )
            from qmoe_cli.quantum.pennylane_backend import MixedBackend

            return MixedBackend(spec, noise)
        from qmoe_cli.quantum.qiskit_backend import AerDensityMatrixBackend

        return AerDensityMatrixBackend(spec, noise, fake_backend=noise.fake_backend)
    if spec.mechanism == "dephased" and name == "lightning":
        raise ValueError(f"backend 'lightning': {spec.unitary_problem()}")
    if noise is not None and not noise.is_noiseless:
        if name == "qiskit-aer":
            from qmoe_cli.quantum.qiskit_backend import AerDensityMatrixBackend

            return AerDensityMatrixBackend(spec, noise, fake_backend=noise.fake_backend)
        if noise.fake_backend is not None:
            raise ValueError(
                "a fake_backend's noise is simulated by Aer: use backend "
                "qiskit-aer (evaluation only, e.g. noise-sweep --simulator)"
            )
        if name == "torch":
            from qmoe_cli.quantum.torch_density import TorchDensityMatrix

            return TorchDensityMatrix(spec, noise)
        raise ValueError(
            f"backend {name!r} does not simulate noise in qmoe; use torch "
            "(training) or qiskit-aer (evaluation)"
        )
    if name == "torch" and spec.mechanism == "dephased":
        from qmoe_cli.quantum.torch_dephased import TorchDephased

        return TorchDephased(spec)
    if name == "torch":
        from qmoe_cli.quantum.torch_backend import TorchStatevector

        return TorchStatevector(spec)
    if name == "pennylane":
        from qmoe_cli.quantum.pennylane_backend import PennyLaneBackend

        return PennyLaneBackend(spec, "default.qubit")
    if name == "lightning":
        from qmoe_cli.quantum.pennylane_backend import PennyLaneBackend

        return PennyLaneBackend(spec, "lightning.qubit")
    if name == "qiskit-aer":
        from qmoe_cli.quantum.qiskit_backend import AerStatevectorBackend

        return AerStatevectorBackend(spec)
    raise ValueError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
