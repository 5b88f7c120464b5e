"""Where `qmoe hardware` runs circuits: the `--target` grammar, parsed once here for the
config's validation and for the runtime that opens the target (quantum/runtime.py)."""

from __future__ import annotations

import re

from qmoe_cli.quantum.fake_devices import check_fake_device

AER_NOISE_KEYS = {"depolarizing": 1.0, "depolarizing_2q": 1.0, "readout": 0.5}  # key -> max
TARGET_SYNTAX = (
    "aer, aer:depolarizing=EPS[,depolarizing_2q=EPS][,readout=R], a fake IBM device of "
    "qiskit_ibm_runtime.fake_provider (FakeManilaV2, FakeSherbrooke, FakeTorino, ...) or "
    "ibm:BACKEND (a real device, with a saved IBM Quantum account)"
)
TARGET_HINT = (
    "targets: aer, aer:depolarizing=EPS,readout=R, a fake device (e.g. FakeTorino), ibm:BACKEND"
)


def parse_target(text: str) -> dict:
    """`--target` -> {"text": canonical form, "kind": "aer" | "fake" | "ibm", "name": device
    or "aer", "noise": {aer noise key: value}}; a ValueError naming the problem, with the
    closest fake devices (the check of model.router.noise.fake_backend) for an unknown name.

    `aer`: Aer's noiseless simulator; `aer:depolarizing=0.01,readout=0.02`: Aer with
    depolarizing_error(eps) after every 1-qubit gate and the joint 2-qubit channel after every
    2-qubit gate (`depolarizing_2q`, default the same eps) and a symmetric readout bit flip;
    `FakeTorino` etc.: qiskit-ibm-runtime's local testing mode on that fake device;
    `ibm:ibm_torino` (or just `ibm_torino`): the real device through QiskitRuntimeService."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"give a target: {TARGET_SYNTAX}")
    text = text.strip()
    head, sep, rest = text.partition(":")
    if head.lower() == "aer":
        noise: dict[str, float] = {}
        for item in rest.split(",") if sep else []:
            key, eq, value = (s.strip() for s in item.partition("="))
            if key not in AER_NOISE_KEYS or not eq:
                raise ValueError(
                    f"{text!r}: {item.strip()!r} is not KEY=VALUE with KEY one of "
                    f"{', '.join(AER_NOISE_KEYS)}"
                )
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{text!r}: {key}: {value!r} is not a number") from None
            if not 0.0 <= number <= AER_NOISE_KEYS[key]:
                raise ValueError(f"{text!r}: {key}: {value} is not in [0, {AER_NOISE_KEYS[key]}]")
            if key in noise:
                raise ValueError(f"{text!r}: {key} is given twice")
            noise[key] = number
        if sep and not noise:
            raise ValueError(f"{text!r}: give KEY=VALUE after 'aer:' (or plain 'aer')")
        canonical = "aer" + (
            ":" + ",".join(f"{k}={noise[k]:g}" for k in AER_NOISE_KEYS if k in noise)
            if noise
            else ""
        )
        return {"text": canonical, "kind": "aer", "name": "aer", "noise": noise}
    if head.lower() == "ibm" and sep or text.startswith("ibm_"):
        name = rest.strip() if sep else text
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(
                f"{text!r}: give an IBM backend name after 'ibm:', e.g. ibm:ibm_torino"
            )
        return {"text": f"ibm:{name}", "kind": "ibm", "name": name, "noise": {}}
    try:  # the same check (and hint) as model.router.noise.fake_backend
        check_fake_device(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; {TARGET_HINT}") from None
    return {"text": text, "kind": "fake", "name": text, "noise": {}}


def target_slug(text: str) -> str:
    """A target as a run-name piece: `aer:depolarizing=0.01` -> `aer-depolarizing-0.01`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:50] or "target"
