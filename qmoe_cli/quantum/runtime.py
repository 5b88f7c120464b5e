"""Router circuits on a device through qiskit-ibm-runtime's SamplerV2: the code path of a
real IBM QPU, run offline on fake devices (the runtime's local testing mode) and on Aer.

* Targets (`open_target`, syntax in quantum/targets.py): a fake device of
  qiskit_ibm_runtime.fake_provider (SamplerV2 in local testing mode: Aer with the device's
  noise model), Aer (noiseless, or with depolarizing and readout noise of
  quantum/qiskit_backend.noise_model) or a real device through QiskitRuntimeService (the
  saved default account).
* ISA circuits (`transpile_router`): the router's circuit of quantum/qiskit_backend.py
  (`build_circuit`: trained weights as numbers, inputs as Parameters x[0..d-1]) transpiled
  by the preset pass manager for the target, unmeasured; then each logical qubit q is
  measured from the physical qubit it ends on into bit q of the register `meas`. Qiskit is
  little-endian (bit q has weight 2^q); `outcomes` turns results into qmoe's big-endian
  basis indices (qubit 0 the most significant bit).
* Batching (`sample`): one PUB per circuit with a parameter-value array of shape
  (inputs, parameters), PUBs packed into as few Sampler jobs as IBM's limit of
  MAX_EXECUTIONS (circuits x shots) per job allows; several jobs go into one Batch on a
  real device.
* Cost (`estimate_cost`): see COST_MODEL.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qmoe_cli.errors import ConfigError, QmoeError
from qmoe_cli.quantum.targets import parse_target
from qmoe_cli.workers import map_calls

# IBM's job limits (docs: quantum.cloud.ibm.com/docs/guides/job-limits): "At most, 10 million
# executions are allowed for Sampler jobs", executions = circuits x shots.
MAX_EXECUTIONS = 10_000_000
# Per-job overhead of the QPU-time estimate: IBM's own example (docs: guides/
# estimate-job-run-time) reports usage_estimation 4.1 quantum seconds for one 2-qubit circuit
# at the default 4096 shots, of which 4096 x (~5 us + 250 us rep_delay) ~ 1.05 s are shots.
JOB_OVERHEAD_SECONDS = 3.0
COST_MODEL = (
    "QPU seconds = sum over circuits of shots x (circuit duration + rep_delay) + jobs x "
    f"{JOB_OVERHEAD_SECONDS:g} s. Circuit duration: the longest path through the transpiled "
    "circuit, each gate and measurement taking the duration of the target's "
    "InstructionProperties on its qubits (rz is virtual: 0); rep_delay: the backend's "
    "default_rep_delay (the delay before every shot of every circuit, IBM docs "
    "guides/repetition-rate-execution); the per-job overhead is fitted to IBM's example in "
    "guides/estimate-job-run-time (4.1 s for one circuit at 4096 shots). A real run records "
    "the runtime's own usage_estimation and used quantum seconds per job"
)
REGISTER = "meas"


@dataclass
class Device:
    """An opened target: the backend SamplerV2 runs on, and what the run records of it."""

    text: str  # the target as given (canonical)
    kind: str  # "fake" | "aer" | "ibm" | "custom"
    backend: object
    simulator: bool
    seed: int | None = None  # seed_simulator of local targets

    @property
    def name(self) -> str:
        return str(getattr(self.backend, "name", self.text))

    @property
    def num_qubits(self) -> int | None:
        n = getattr(self.backend, "num_qubits", None)
        return int(n) if n else None

    @property
    def target(self):
        return getattr(self.backend, "target", None)

    @property
    def processor(self) -> str | None:
        conf = _configuration(self.backend)
        kind = getattr(conf, "processor_type", None) if conf is not None else None
        if isinstance(kind, dict) and kind.get("family"):
            return f"{kind['family']} r{kind.get('revision', '?')}"
        return None

    @property
    def rep_delay(self) -> float | None:
        value = getattr(self.backend, "default_rep_delay", None)
        if value is None:
            conf = _configuration(self.backend)
            value = getattr(conf, "default_rep_delay", None) if conf is not None else None
        return float(value) if isinstance(value, int | float) else None

    def quality(self) -> dict:
        """Median error of the device's 2-qubit gates and of its measurements (the
        target's InstructionProperties; None when it states none, as Aer's)."""
        target = self.target
        if target is None:
            return {"two_qubit_error": None, "readout_error": None}
        two, meas = [], []
        for name in target.operation_names:
            props = target[name] if name in target else {}
            for qargs, p in (props or {}).items():
                if p is None or p.error is None or qargs is None:
                    continue
                if name == "measure":
                    meas.append(p.error)
                elif len(qargs) == 2:
                    two.append(p.error)
        return {
            "two_qubit_error": float(np.median(two)) if two else None,
            "readout_error": float(np.median(meas)) if meas else None,
        }


def _configuration(backend):
    with contextlib.suppress(Exception):
        return backend.configuration()
    return None


def open_target(text: str, seed: int | None = 0) -> Device:
    """The backend of a target (syntax: quantum/targets.py); a real device needs a saved
    IBM Quantum account (QiskitRuntimeService.save_account, docs/hardware.md)."""
    try:
        parsed = parse_target(text)
    except ValueError as exc:
        raise ConfigError(f"--target: {exc}") from None
    if parsed["kind"] == "fake":
        from qmoe_cli.quantum.qiskit_backend import load_fake_backend

        return Device(parsed["text"], "fake", load_fake_backend(parsed["name"]), True, seed)
    if parsed["kind"] == "aer":
        from qiskit_aer import AerSimulator

        from qmoe_cli.quantum.noise import NoiseSpec
        from qmoe_cli.quantum.qiskit_backend import noise_model

        noise = parsed["noise"]
        eps = noise.get("depolarizing", 0.0)
        spec = NoiseSpec(
            eps, noise.get("depolarizing_2q", eps), "paper", 0.0, noise.get("readout", 0.0)
        )
        model = noise_model(spec)  # noiseless too: the same gates (rx ry rz u; cz cx)
        if model.is_ideal():
            backend = AerSimulator(basis_gates=model.basis_gates)
        else:
            backend = AerSimulator(noise_model=model)
        return Device(parsed["text"], "aer", backend, True, seed)
    return Device(parsed["text"], "ibm", _ibm_backend(parsed["name"]), False, None)


def _ibm_backend(name: str):
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        service = QiskitRuntimeService()
    except Exception as exc:  # no saved account, no network, a bad token: one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QmoeError(
            f"--target ibm:{name}: cannot open the IBM Quantum service ({first}); save an "
            "account first: QiskitRuntimeService.save_account(channel=..., token=..., "
            "set_as_default=True) (docs/hardware.md)"
        ) from None
    try:
        return service.backend(name)
    except Exception as exc:
        names = []
        with contextlib.suppress(Exception):
            names = [b.name for b in service.backends()]
        known = f" (your account has: {', '.join(names)})" if names else ""
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QmoeError(f"--target ibm:{name}: no such backend: {first}{known}") from None


# --- ISA circuits ----------------------------------------------------------------------------


@dataclass
class IsaCircuit:
    """A router circuit transpiled for a target: unmeasured (to fold) and measured."""

    unmeasured: object  # QuantumCircuit, ISA, no measurements
    qubits: list[int]  # physical qubit measured into bit q, for logical qubit q
    circuit: object = None  # measured: + `meas` register

    def __post_init__(self) -> None:
        if self.circuit is None:
            self.circuit = measured(self.unmeasured, self.qubits)

    @property
    def parameters(self) -> list:
        return list(self.circuit.parameters)

    def values(self, x: np.ndarray) -> np.ndarray:
        """The parameter-value array (inputs, parameters) of input rows x (inputs, d), in the
        circuit's parameter order (a parameter the transpiler removed takes no column)."""
        x = np.asarray(x, dtype=float)
        return (
            np.stack([x[:, p.index] for p in self.parameters], axis=-1)
            if self.parameters
            else np.zeros((len(x), 0))
        )


def transpile_router(
    spec, weights, device: Device, optimization_level: int, seed: int
) -> IsaCircuit:
    """The router's circuit (inputs as Parameters) as an ISA circuit for the device."""
    from qmoe_cli.quantum.qiskit_backend import build_circuit

    qc = build_circuit(spec, weights)
    isa = transpile(qc, device, optimization_level, seed)
    return IsaCircuit(isa, final_qubits(isa, spec.n_qubits))


def transpile(qc, device: Device, optimization_level: int, seed: int, initial_layout=None):
    from qiskit.transpiler import generate_preset_pass_manager

    if device.num_qubits is not None and qc.num_qubits > device.num_qubits:
        raise QmoeError(
            f"--target {device.text}: {device.name} has {device.num_qubits} qubits, the "
            f"circuit needs {qc.num_qubits}"
        )
    with warnings.catch_warnings():  # qiskit-ibm-runtime's own plugin deprecations
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        pm = generate_preset_pass_manager(
            optimization_level=optimization_level,
            backend=device.backend,
            seed_transpiler=seed,
            initial_layout=initial_layout,
        )
        return pm.run(qc)


def final_qubits(isa, n: int) -> list[int]:
    """The physical qubit each logical qubit 0..n-1 ends on (routing may move them)."""
    if isa.layout is None:
        return list(range(n))
    return [int(q) for q in isa.layout.final_index_layout()[:n]]


def measured(unmeasured, qubits: list[int]):
    """The circuit with logical qubit q measured (from physical qubit qubits[q]) into bit q
    of a register `meas`."""
    from qiskit.circuit import ClassicalRegister

    qc = unmeasured.copy()
    creg = ClassicalRegister(len(qubits), REGISTER)
    qc.add_register(creg)
    qc.measure(qubits, creg)
    return qc


def calibration_circuits(qubits: list[int], device: Device, seed: int) -> tuple:
    """Readout calibration on these physical qubits: |0...0> and |1...1> (X on every
    qubit), measured into `meas` like the router circuits (ISA: X is native)."""
    from qiskit import QuantumCircuit

    n = len(qubits)
    out = []
    for prep in (0, 1):
        qc = QuantumCircuit(n)
        if prep:
            qc.x(range(n))
        isa = transpile(qc, device, 0, seed, initial_layout=list(qubits))
        # qubits idle in the |0> circuit may be dropped: measure where the layout put them
        out.append(measured(isa, final_qubits(isa, n) if isa.layout is not None else list(qubits)))
    return tuple(out)


def circuit_stats(qc, device: Device) -> dict:
    """Depth, two-qubit gate count, size (gates and measurements, no barriers), duration in
    seconds (None without durations) and the estimated success probability (product of
    1 - error over the instructions; None without error rates) of a transpiled circuit."""
    target = device.target
    counts = [inst for inst in qc.data if inst.operation.name != "barrier"]
    two = sum(1 for inst in counts if inst.operation.num_qubits == 2)
    return {
        "depth": int(qc.depth(lambda inst: inst.operation.name != "barrier")),
        "two_qubit_gates": int(two),
        "size": len(counts),
        "duration_seconds": circuit_duration(qc, target),
        "esp": success_probability(qc, target),
    }


def _props(target, qc, inst):
    if target is None:
        return None
    name = inst.operation.name
    qargs = tuple(qc.find_bit(q).index for q in inst.qubits)
    if name not in target.operation_names:
        return None
    props = target[name]
    return props.get(qargs, props.get(None)) if props else None


def circuit_duration(qc, target) -> float | None:
    """The longest path through the circuit in seconds (as-soon-as-possible schedule): each
    instruction starts when its last qubit is free and lasts its InstructionProperties
    duration; rz and barriers take 0. None when the target gives no duration."""
    if target is None:
        return None
    free = np.zeros(qc.num_qubits)
    for inst in qc.data:
        op = inst.operation
        qs = [qc.find_bit(q).index for q in inst.qubits]
        if op.name == "barrier":
            free[qs] = free[qs].max() if qs else 0.0
            continue
        if op.name == "delay":
            dt = getattr(target, "dt", None) or 0.0
            seconds = op.duration * dt if op.unit == "dt" else _seconds(op.duration, op.unit)
        else:
            props = _props(target, qc, inst)
            if props is None or props.duration is None:
                if op.name == "rz":
                    seconds = 0.0
                else:
                    return None
            else:
                seconds = float(props.duration)
        start = free[qs].max()
        free[qs] = start + seconds
    return float(free.max()) if len(free) else 0.0


def _seconds(value: float, unit: str) -> float:
    return float(value) * {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}[unit]


def success_probability(qc, target) -> float | None:
    """Product of (1 - error) over the circuit's gates and measurements (None without
    error rates: Aer's noise is not in its target)."""
    if target is None:
        return None
    p, seen = 1.0, False
    for inst in qc.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        props = _props(target, qc, inst)
        if props is None or props.error is None:
            continue
        p *= 1.0 - float(props.error)
        seen = True
    return p if seen else None


# --- sampling ----------------------------------------------------------------------------------


@dataclass
class Pub:
    """One circuit and its parameter-value rows (None: an unparametrized circuit, one row)."""

    key: object
    circuit: object
    values: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return 1 if self.values is None else len(self.values)


@dataclass
class JobPlan:
    pieces: list[tuple[int, int, int]] = field(default_factory=list)  # (pub, start, stop)

    def executions(self, pubs: list[Pub], shots: int) -> int:
        return sum((stop - start) * shots for _, start, stop in self.pieces)


def plan_jobs(pubs: list[Pub], shots: int, limit: int = MAX_EXECUTIONS) -> list[JobPlan]:
    """PUBs packed in order into jobs of at most `limit` executions (rows x shots); a PUB
    larger than that is split by rows."""
    per_job = max(1, limit // max(1, shots))
    jobs, current, used = [], JobPlan(), 0
    for i, pub in enumerate(pubs):
        start = 0
        while start < pub.rows:
            if used >= per_job:
                jobs.append(current)
                current, used = JobPlan(), 0
            stop = min(pub.rows, start + per_job - used)
            current.pieces.append((i, start, stop))
            used += stop - start
            start = stop
    if current.pieces:
        jobs.append(current)
    return jobs


def sample(
    pubs: list[Pub],
    device: Device,
    shots: int,
    on_job: Callable[[int, int, dict], None] | None = None,
) -> tuple[dict, list[dict]]:
    """Every PUB sampled `shots` times through SamplerV2 on the device, in as few jobs as
    the limit allows -> ({pub key: big-endian outcomes (rows, shots)}, per-job records).
    `on_job(i, n_jobs, record)` is told when each job has finished.

    A local simulator's jobs run in a worker process (qmoe_cli.workers): Aer holds the GIL
    while it simulates, seconds on end, and this process must be free to stop at a signal
    (the worker is then killed, its job with it)."""
    jobs = plan_jobs(pubs, shots)
    batches = [[_pub_rows(pubs[i], start, stop) for i, start, stop in plan.pieces] for plan in jobs]
    parts: dict[int, dict[int, np.ndarray]] = {i: {} for i in range(len(pubs))}
    records: list[dict] = [{} for _ in jobs]

    def finished(j: int, done: tuple[dict, list[np.ndarray]]) -> None:
        records[j], samples = done
        for (i, _, _), outcome in zip(jobs[j].pieces, samples, strict=True):
            parts[i][j] = outcome
        if on_job is not None:
            on_job(j, len(jobs), records[j])

    if device.simulator:
        seeds = [
            None if device.seed is None else simulator_seed(device.seed, j)
            for j in range(len(jobs))
        ]
        calls = [
            (device.backend, batch, shots, seed) for batch, seed in zip(batches, seeds, strict=True)
        ]
        map_calls(run_job, calls, 1, finished)
    else:
        with _mode(device, len(jobs)) as mode:
            for j, batch in enumerate(batches):
                finished(j, run_job(mode, batch, shots, None))
    return {
        pubs[i].key: np.concatenate([got[j] for j in sorted(got)]) for i, got in parts.items()
    }, records


def _pub_rows(pub: Pub, start: int, stop: int) -> tuple:
    return (pub.circuit,) if pub.values is None else (pub.circuit, pub.values[start:stop])


def run_job(mode, batch: list[tuple], shots: int, seed: int | None) -> tuple[dict, list]:
    """One Sampler job of `batch` (PUB tuples) on `mode` (a backend or a Batch) -> its
    record and each PUB's outcomes (rows, shots)."""
    from qiskit_ibm_runtime import SamplerV2

    sampler = SamplerV2(mode=mode)
    sampler.options.default_shots = shots
    if seed is not None:
        sampler.options.simulator.seed_simulator = seed
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no effect in local testing mode")
        job = sampler.run(batch, shots=shots)
        estimate = _usage_estimation(job)
        result = _result(job)
    circuits = sum(1 if len(pub) == 1 else len(pub[1]) for pub in batch)
    record = {
        "pubs": len(batch),
        "circuits": circuits,
        "executions": circuits * shots,
        "seconds": time.perf_counter() - started,
        "job_id": _job_id(job),
        "usage_estimation_seconds": estimate,
        "quantum_seconds": _quantum_seconds(job),
    }
    return record, [outcomes(getattr(r.data, REGISTER)) for r in result]


def _result(job):
    """job.result(); an interrupt while it runs cancels the job (on a real device it would
    run on, and be billed)."""
    try:
        return job.result()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            job.cancel()
        raise


def simulator_seed(seed: int, job: int) -> int:
    """Aer's seed_simulator for job `job` of a run seeded `seed`: never 0, which the
    runtime's local testing mode drops (it tests the option for truth) and Aer then draws
    a seed of its own."""
    return 1 + 10_000 * int(seed) + int(job)


@contextlib.contextmanager
def _mode(device: Device, n_jobs: int):
    """What SamplerV2 runs in: the backend itself (job mode, local targets), or a Batch of
    the jobs on a real device."""
    if device.simulator or n_jobs == 1:
        yield device.backend
        return
    from qiskit_ibm_runtime import Batch

    with Batch(backend=device.backend) as batch:
        yield batch


def _job_id(job) -> str | None:
    with contextlib.suppress(Exception):
        return str(job.job_id())
    return None


def _usage_estimation(job) -> float | None:
    with contextlib.suppress(Exception):
        value = job.usage_estimation.get("quantum_seconds")
        return float(value) if value is not None else None
    return None


def _quantum_seconds(job) -> float | None:
    with contextlib.suppress(Exception):
        value = job.metrics()["usage"]["quantum_seconds"]
        return float(value) if value is not None else None
    return None


def outcomes(bits) -> np.ndarray:
    """A PUB's BitArray (register `meas`) -> outcomes (rows, shots) as big-endian basis
    indices: bit q of Qiskit's integer (little-endian) is logical qubit q, which is the
    (n - 1 - q)-th bit of qmoe's index."""
    n = bits.num_bits
    raw = np.asarray(bits.array)  # (*shape, shots, bytes), bytes big-endian
    raw = raw.reshape(-1, bits.num_shots, raw.shape[-1]).astype(np.int64)
    little = np.zeros(raw.shape[:2], dtype=np.int64)
    for b in range(raw.shape[-1]):
        little = (little << 8) | raw[..., b]
    table = np.array([int(format(v, f"0{n}b")[::-1], 2) for v in range(2**n)], dtype=np.int64)
    return table[little].astype(np.uint32 if n > 16 else np.uint16 if n > 8 else np.uint8)


def counts(samples: np.ndarray, n_outcomes: int, shots: int | None = None) -> np.ndarray:
    """Outcome counts (rows, n_outcomes) of the first `shots` shots of each row."""
    s = samples if shots is None else samples[:, :shots]
    rows = s.shape[0]
    flat = (np.arange(rows)[:, None] * n_outcomes + s.astype(np.int64)).ravel()
    return np.bincount(flat, minlength=rows * n_outcomes).reshape(rows, n_outcomes)


# --- cost ----------------------------------------------------------------------------------------


def estimate_cost(circuits: list[tuple[object, int, str]], device: Device, shots: int) -> dict:
    """The cost of sampling `circuits` [(transpiled circuit, bound rows, what it is for)]
    `shots` times each (COST_MODEL): circuits, jobs, executions and QPU seconds in total
    and per purpose (`by`: router, readout calibration, zne folds)."""
    pubs = [Pub(i, None, np.zeros((rows, 0))) for i, (_, rows, _) in enumerate(circuits)]
    n_jobs = len(plan_jobs(pubs, shots))
    rep = device.rep_delay
    seconds: float | None = 0.0
    by: dict[str, dict] = {}
    for qc, rows, what in circuits:
        duration = circuit_duration(qc, device.target)
        part = by.setdefault(what, {"circuits": 0, "shots": 0, "qpu_seconds": 0.0})
        part["circuits"] += rows
        part["shots"] += rows * shots
        if duration is None or rep is None:
            seconds = None
            part["qpu_seconds"] = None
        else:
            cost = rows * shots * (duration + rep)
            if seconds is not None:
                seconds += cost
            if part["qpu_seconds"] is not None:
                part["qpu_seconds"] += cost
    total_circuits = sum(rows for _, rows, _ in circuits)
    if seconds is not None:
        seconds += n_jobs * JOB_OVERHEAD_SECONDS
    why = None
    if seconds is None:
        why = (
            "the target is a simulator without gate durations or rep_delay"
            if device.kind == "aer"
            else "the target gives no duration for some instruction or no rep_delay"
        )
    return {
        "circuits": total_circuits,
        "pubs": len(circuits),
        "jobs": n_jobs,
        "shots_per_circuit": shots,
        "executions": total_circuits * shots,
        "qpu_seconds": seconds,
        "qpu_seconds_missing": why,
        "rep_delay_seconds": rep,
        "job_overhead_seconds": JOB_OVERHEAD_SECONDS,
        "model": COST_MODEL,
        "by": by,
    }


def human_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
