"""What each experiment kind writes to its run folder's metrics.json, as pydantic models.

Every experiment builds its top-level metrics.json through one of these records (so a writer
that forgets a key fails when it writes, not when the report reads), and `qmoe report` reads
it back once through `read_record`:

    TrainRecord          command "train": qmoe train, and every train-format sub-folder
                         (ablate/efficiency variants, noise-sweep baselines and train-mode
                         levels); `per_seed` holds SeedRecords, also written to
                         seed-<s>/metrics.json (without command and schema_version)
    AblateRecord         command "ablate": `summary` rows (VariantSummary), `comparisons`
    NoiseSweepRecord     command "noise-sweep": levels, breakdown point, per-seed accuracies,
                         the table (NoiseRow)
    LevelRecord          command "noise-sweep/evaluate": levels/eps=<x>/metrics.json of an
                         evaluate-mode noise sweep (the trained model evaluated at one level)
    EfficiencyRecord     command "efficiency": points (EfficiencyPoint), Pareto front, the
                         smallest router per threshold; or the skipped form (`skipped` = the
                         reason, no points, `data` null)
    HardwareRecord       command "hardware": trained routers run through SamplerV2 on a target
                         (circuits, cost estimate, accuracy per mitigation and shot count)
    DiagnoseRecord       command "diagnose": a run's quantum routers' Fourier spectrum and
                         surrogate fits, gradient variance, expressibility (docs/diagnose.md)

The other files of a run folder the report reads are read back tolerantly (`Tolerant`: keys
of older versions may be missing): `EnvRecord` (env.json), `TunedRecord` (tuned.json beside
a tuned ablation's metrics.json: the settings `qmoe tune` chose), and a sweep folder's
`SweepPointRecord` (points/<id>/point.json) and `SweepStatusRecord` (status/<id>.json).

Field names are those written before this module existed, so older folders parse. Numbers
that may be undefined (a std over one seed, an eta without a rank, ...) are `float | None`:
NaN in memory, `null` in the file (`write_record` writes every non-finite number as null).
Our own writes forbid unknown keys; the only open-ended keys are the ones named by the
config (a noise sweep's baselines, an efficiency run's thresholds and router types).

Every record carries `schema_version` (SCHEMA_VERSION). Folders written before it existed
have none: `migrate` is the one place that reads them (see its docstring).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from qmoe_cli import files
from qmoe_cli.errors import RunFolderError
from qmoe_cli.schema import json_finite

SCHEMA_VERSION = 1
MARKER = "metrics.json"  # the file a record is written to (runs.COMPLETE_MARKER)

Num = float | None  # a number that may be undefined: NaN in memory, null in the file


class Part(BaseModel):
    """A piece of a record: every key required unless it has a default, no unknown keys.

    `_omit_if_none` names the keys that are left out of the file when None (keys that are
    written only in some cases, e.g. `plateau` without a plateau in the config), so the file
    is as it was before records existed."""

    model_config = ConfigDict(extra="forbid")
    _omit_if_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler):
        data = handler(self)
        for key in self._omit_if_none:
            if data.get(key) is None:
                data.pop(key, None)
        return data


# --- pieces shared by several records ----------------------------------------------------------


class Stat(Part):
    """metrics.mean_ci: mean, sample std and t-interval over `n` values (NaN for n < 2)."""

    mean: Num
    std: Num
    ci_low: Num
    ci_high: Num
    n: int


class Params(Part):
    router: int
    experts: int
    total: int


class Qubits(Part):
    """models.qubits: the qubits of every circuit of the model (router 0 and experts [] when
    classical); total: every circuit on a register of its own; largest: the widest one."""

    router: int
    experts: list[int]
    total: int
    largest: int


class DataInfo(Part):
    """What was loaded (data.Splits.info). `labels`: the original label of each class index
    0..C-1, for data whose labels were mapped (user files); absent otherwise. `scaling`: the
    data.scaling applied (a variant's own when it sets one); absent in runs written before."""

    _omit_if_none = ("labels", "scaling")

    source: str
    n_train: int
    n_val: int
    n_test: int
    n_features: int
    n_classes: int
    labels: list[str] | None = None
    scaling: str | None = None


class EffectiveParams(Part):
    """Rank of the router's gate Jacobian at initialisation and trained (None: no gradient)."""

    init: int | None
    trained: int | None
    nominal: int
    n_inputs: int
    rtol: float


class Usage(Part):
    """Expert usage on the test split (metrics.expert_usage)."""

    mean_gate: list[float]
    top_expert_share: list[float]
    gate_entropy: Num
    gate_entropy_max: float
    unused_experts: int


# --- train ------------------------------------------------------------------------------------


class SeedRecord(Part):
    """One seed of a train-format folder (seed-<s>/metrics.json and `per_seed`).
    `test_per_class_accuracy`: the test accuracy (recall) of each class index 0..C-1 (NaN,
    null in the file, for a class absent from the test split); absent in runs that do not
    record it."""

    _omit_if_none = ("test_per_class_accuracy", "qubits", "effective_params_model")

    seed: int
    test_accuracy: float
    test_f1_macro: Num
    test_per_class_accuracy: list[Num] | None = None
    val_accuracy: Num
    params: Params
    eta: Num
    effective_params: EffectiveParams
    eta_effective: Num
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    epochs_to_90_val: int | None
    fit_seconds: float
    usage: Usage
    data: DataInfo
    qubits: Qubits | None = None  # absent in runs written before it was recorded
    # metrics.model_effective_params: the whole model's Jacobian rank, trained (absent: not
    # recorded; null: no gradient)
    effective_params_model: int | None = None


class Aggregate(Part):
    """runs/train_format.aggregate: the SUMMARY_METRICS over seeds."""

    test_accuracy: Stat
    test_f1_macro: Stat
    eta: Stat
    eta_effective: Stat
    epochs_run: Stat
    fit_seconds: Stat


class Record(Part):
    """What every top-level metrics.json starts with."""

    command: str
    schema_version: Literal[1] = SCHEMA_VERSION


class TrainRecord(Record):
    command: Literal["train"] = "train"
    name: str
    router: str
    params: Params
    data: DataInfo
    eta_definition: str
    aggregate: Aggregate
    per_seed: list[SeedRecord] = Field(min_length=1)


# --- ablate -----------------------------------------------------------------------------------


class VariantSummary(Part):
    """One variant over seeds (runs/train_format.summarize_variant): a row of summary.csv."""

    _omit_if_none = ("plateau", "share_above_plateau", "qubits_total", "qubits_largest")

    variant: str
    label: str
    router: str
    router_params: int
    total_params: int
    n_seeds: int
    test_acc_mean: Num
    test_acc_median: Num
    test_acc_std: Num
    test_acc_ci_low: Num
    test_acc_ci_high: Num
    f1_mean: Num
    eta_mean: Num
    eta_effective_mean: Num
    router_params_effective_init: int | float | None
    router_params_effective: int | float | None
    router_params_effective_min: int | None
    router_params_effective_max: int | None
    plateau: float | None = None  # only with `plateau` in the config
    share_above_plateau: float | None = None
    epochs_to_90_val_mean: Num
    seeds_reaching_90_val: int
    epochs_run_mean: Num
    fit_seconds_mean: Num
    gate_entropy_mean: Num
    unused_experts_mean: Num
    qubits_total: int | None = None  # every circuit of the model (models.qubits)
    qubits_largest: int | None = None  # its widest circuit


class Comparison(Part):
    """The reference against one other variant (metrics.paired_comparison)."""

    a: str
    b: str
    n_seeds: int
    mean_diff: Num
    ci_low: Num
    ci_high: Num
    p: Num
    test: str
    t_test_p: Num
    wilcoxon_p: Num
    p_holm: Num
    n_comparisons: int
    verdict: str


class AblateRecord(Record):
    command: Literal["ablate"] = "ablate"
    name: str
    reference: str
    seeds: list[int]
    eta_definition: str
    data: DataInfo
    summary: list[VariantSummary] = Field(min_length=1)
    comparisons: list[Comparison]


# --- noise-sweep ------------------------------------------------------------------------------


class BreakdownInterval(Part):
    low: float
    high: float
    low_censored: bool
    high_censored: bool
    confidence: float
    resamples: int
    share_never: float
    method: str


class Breakdown(Part):
    """Where the quantum router's mean accuracy falls to the best baseline's."""

    eps: float | None
    baseline: str
    baseline_accuracy: float
    levels: list[float]
    per_seed: list[float | None]
    seeds_never: int
    seeds_at_first_level: int
    interval: BreakdownInterval | None


def _is_num(value) -> bool:
    """A JSON number or null (an open key's value)."""
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


class NoiseRow(Part):
    """One level of the noise table; `<baseline>_mean` for every baseline (open keys)."""

    model_config = ConfigDict(extra="allow")
    _omit_if_none = ("quantum_minus_best_baseline",)

    level: float
    mode: str
    placement: str
    quantum_mean: Num
    quantum_std: Num
    quantum_ci_low: Num
    quantum_ci_high: Num
    quantum_minus_best_baseline: Num = None  # only with baselines

    @model_validator(mode="after")
    def _baseline_means(self) -> NoiseRow:
        for key, value in (self.model_extra or {}).items():
            if not key.endswith("_mean"):
                raise ValueError(f"{key}: unknown key (a baseline's column is <name>_mean)")
            if not _is_num(value):
                raise ValueError(f"{key}: not a number: {value!r}")
        return self

    @property
    def baseline_means(self) -> dict[str, Num]:
        """{baseline name: its mean test accuracy}, in the order written."""
        return {k[: -len("_mean")]: v for k, v in (self.model_extra or {}).items()}

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler):  # the baselines' columns before the difference
        data = handler(self)
        diff = data.pop("quantum_minus_best_baseline", None)
        if diff is not None:
            data["quantum_minus_best_baseline"] = diff
        return data


class NoisePerSeed(Part):
    """`per_seed`: {"quantum": {repr(level): [accuracy per seed]}, <baseline>: [...]}."""

    model_config = ConfigDict(extra="allow")

    quantum: dict[str, list[Num]]

    @model_validator(mode="after")
    def _baselines(self) -> NoisePerSeed:
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, list) or not all(_is_num(v) for v in value):
                raise ValueError(f"{key}: a baseline's accuracies per seed: a list of numbers")
        return self

    @property
    def baselines(self) -> dict[str, list[Num]]:
        return dict(self.model_extra or {})


class FakeBackend(Part):
    device: str
    accuracy: Stat
    per_seed: list[float]


class NoiseSweepRecord(Record):
    _omit_if_none = ("breakdown", "fake_backend")

    command: Literal["noise-sweep"] = "noise-sweep"
    mode: Literal["evaluate", "train"]
    simulator: str
    levels: list[float]
    seeds: list[int]
    placement: str
    best_baseline: str | None
    breakdown: Breakdown | None = None  # only with baselines
    per_seed: NoisePerSeed
    fake_backend: FakeBackend | None = None  # only with noise.fake_backend
    table: list[NoiseRow]


class LevelSeed(Part):
    seed: int
    test_accuracy: float


class LevelAggregate(Part):
    test_accuracy: Stat


class LevelRecord(Record):
    """levels/eps=<x>/metrics.json of an evaluate-mode noise sweep (not a run of its own)."""

    command: Literal["noise-sweep/evaluate"] = "noise-sweep/evaluate"
    level: float
    aggregate: LevelAggregate
    per_seed: list[LevelSeed]


# --- efficiency -------------------------------------------------------------------------------


class EfficiencyPoint(VariantSummary):
    """One router size: its variant summary, the validation accuracy it is selected by and
    whether it is on the Pareto front."""

    val_acc_mean: Num
    val_acc_std: Num
    pareto: bool


class Selected(Part):
    """The smallest router of a type reaching a threshold (experiments.efficiency._selected)."""

    variant: str
    router_params: int
    val_acc_mean: Num
    test_acc_mean: Num
    test_acc_std: Num
    test_acc_ci_low: Num
    test_acc_ci_high: Num


class EfficiencyRecord(Record):
    """A measured efficiency run, or the skipped form: `skipped` (the reason), `data` null,
    no points, and neither `eta_definition` nor `seeds`."""

    _omit_if_none = ("eta_definition", "seeds")

    command: Literal["efficiency"] = "efficiency"
    name: str
    skipped: str | None
    data: DataInfo | None
    eta_definition: str | None = None
    seeds: list[int] | None = None
    selected_by: str
    points: list[EfficiencyPoint]
    pareto: list[str]
    # threshold (as "%g") -> router type -> the smallest router reaching it, or None
    smallest_reaching: dict[str, dict[str, Selected | None]]

    @model_validator(mode="after")
    def _measured_or_skipped(self) -> EfficiencyRecord:
        if self.skipped is None:
            for key in ("data", "eta_definition", "seeds"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: required key is missing (the run is not skipped)")
        elif self.points:
            raise ValueError("points: a skipped run has none")
        return self


# --- hardware ---------------------------------------------------------------------------------


class HardwareSource(Part):
    """The trained run whose routers ran (its training budget, for the report's rules)."""

    path: str
    kind: str
    name: str
    epochs: int | None
    early_stopping: bool | None
    skipped: list[str]


class HardwareTarget(Part):
    """Where the circuits ran; the median 2-qubit gate and readout errors of the device
    (its target's InstructionProperties; null for Aer)."""

    text: str
    kind: Literal["fake", "aer", "ibm", "custom"]
    backend: str
    num_qubits: int | None
    processor: str | None
    simulator: bool
    two_qubit_error: Num
    readout_error: Num


class CostPart(Part):
    circuits: int
    shots: int
    qpu_seconds: Num


class HardwareCost(Part):
    """The estimate printed before running (quantum/runtime.py COST_MODEL)."""

    circuits: int
    pubs: int
    jobs: int
    shots_per_circuit: int
    executions: int
    qpu_seconds: Num
    qpu_seconds_missing: str | None
    rep_delay_seconds: Num
    job_overhead_seconds: float
    model: str
    by: dict[str, CostPart]  # router, zne, readout
    by_mitigation: dict[str, CostPart]  # what each mitigation adds to the unmitigated run


class HardwareCircuit(Part):
    """One transpiled circuit (scale 1: the router; 3, 5, ...: its ZNE folds)."""

    variant: str
    seed: int
    scale: int
    physical_qubits: list[int]
    depth: int
    two_qubit_gates: int
    size: int
    duration_seconds: Num
    esp: Num  # estimated success probability: prod(1 - error) over its instructions


class ShotPoint(Part):
    mitigation: str
    shots: int
    accuracy: float  # measured: the first `shots` shots of every circuit
    repeat_mean: float  # mean over the simulated repeats
    low: float  # 95 % shot-noise interval
    high: float


class HardwareSeed(Part):
    variant: str
    seed: int
    n_inputs: int
    exact_accuracy: float  # noiseless: the exact probabilities of the same weights
    recorded_accuracy: Num  # the run's own test accuracy (its whole test split)
    gate_tvd: dict[str, float]  # mean total-variation distance to the exact gates, at S
    shots_within_1pt: dict[str, int | None]
    results: list[ShotPoint]


class HardwareRow(Part):
    """Over seeds, one variant, mitigation and shot count (summary.csv)."""

    variant: str
    mitigation: str
    shots: int
    n_seeds: int
    accuracy_mean: float
    accuracy_std: Num
    accuracy_ci_low: Num
    accuracy_ci_high: Num
    shot_low: float
    shot_high: float
    noiseless_mean: float


class ShotsNeeded(Part):
    variant: str
    mitigation: str
    shots: int | None


class HardwareBaseline(Part):
    router: str
    per_seed: list[float]  # exact test accuracy on the same inputs, in `seeds` order


class HardwareJob(Part):
    pubs: int
    circuits: int
    executions: int
    seconds: float
    job_id: str | None
    usage_estimation_seconds: Num
    quantum_seconds: Num


class HardwareRecord(Record):
    """command "hardware": trained routers run through SamplerV2 on a target."""

    command: Literal["hardware"] = "hardware"
    name: str
    source: HardwareSource
    data: DataInfo
    target: HardwareTarget
    optimization_level: int
    seeds: list[int]
    variants: list[str]
    shots: list[int]
    sampled_shots: int
    calibration_shots: int | None
    mitigation: list[str]
    zne_scales: list[int] | None
    zne_extrapolation: str | None
    repeats: int
    methods: dict[str, str]
    cost: HardwareCost
    circuits: list[HardwareCircuit]
    per_seed: list[HardwareSeed] = Field(min_length=1)
    table: list[HardwareRow]
    shots_needed: list[ShotsNeeded]
    baselines: dict[str, HardwareBaseline]
    jobs: list[HardwareJob]
    wall_seconds: float


# --- diagnose ---------------------------------------------------------------------------------


class DiagnoseSource(Part):
    """The trained run whose routers the spectrum read."""

    path: str
    kind: str
    name: str
    seeds: list[int]
    variants: list[str]
    dataset: str | None = None  # the run's data.name (folders written before: None)


class SpectrumRouter(Part):
    """One trained router's Fourier spectrum and its classical surrogates (docs/diagnose.md)."""

    variant: str
    seed: int
    # the router's mechanism (models.routers.quantum: full, dephased, no_entangler; folders
    # written before it was recorded: full)
    mechanism: str = "full"
    qubits: int
    layers: int
    ansatz: str
    embedding: str
    readout: str
    features: int
    degrees: list[int]  # the largest frequency of each feature (qubits encoding it)
    of: str  # what the coefficients are of: "gates" (probs readout) or "<Z_q>" (expval)
    outputs: int
    grid_points: int
    frequencies: int  # non-zero frequencies of the encoding, one per pair {w, -w}
    nonnegligible: int  # of those, with |c_w| >= threshold in some output
    largest: Num  # the largest |c_w| over non-zero w and outputs
    surrogate_features: int  # 1 + 2 x nonnegligible
    surrogate_r2: Num  # on the test inputs, fitted on the training inputs
    surrogate_max_error: Num
    full_r2: Num  # the same with every frequency of the encoding
    full_max_error: Num
    fit_inputs: int
    test_inputs: int


class GradientRow(Part):
    ansatz: str
    init: str
    cost: str
    layers: int
    qubits: int
    variance: Num  # of each partial derivative over samples, averaged over the weights
    variance_first: Num  # of the first weight's
    mean_gradient: Num  # largest |mean| over the weights (0 up to sampling when unbiased)
    samples: int


class DecayRow(Part):
    """log(variance) = intercept + rate x qubits, by least squares, with rate's 95 % interval."""

    ansatz: str
    init: str
    cost: str
    layers: int
    qubits: list[int]
    rate: Num
    low: Num
    high: Num
    intercept: Num
    points: int


class ExpressibilityRow(Part):
    ansatz: str
    layers: int
    qubits: int
    expressibility: Num  # KL(P_circuit || P_Haar) of the fidelities, 75 bins
    entangling_capability: Num  # mean Meyer-Wallach measure
    entangling_std: Num
    mean_fidelity: Num
    haar_entangling: Num  # (2^n - 2) / (2^n + 1)
    pairs: int


class DiagnoseRecord(Record):
    """command "diagnose": the spectrum of a run's quantum routers and the scans."""

    command: Literal["diagnose"] = "diagnose"
    name: str
    source: DiagnoseSource | None
    scans: list[str]
    threshold: float
    methods: dict[str, str]
    spectrum: list[SpectrumRouter]
    trainability: list[GradientRow]
    decay: list[DecayRow]
    expressibility: list[ExpressibilityRow]
    wall_seconds: float


# --- what else a run folder holds --------------------------------------------------------------


class Tolerant(BaseModel):
    """A file read back from folders of every qmoe version: a key it lacks is None (or
    empty), a key it does not know is ignored; a key of the wrong type is still an error."""

    model_config = ConfigDict(extra="ignore")


class GitRevision(Tolerant):
    revision: str | None = None
    dirty: bool = False


class EnvRecord(Tolerant):
    """env.json (runs.environment): what produced a run."""

    python: str | None = None
    platform: str | None = None
    host: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)  # distribution -> version
    git: GitRevision | None = None  # None: not a git checkout
    command: str | None = None
    cwd: str | None = None
    torch_threads: int | None = None
    time: str | None = None


class SweepPointRecord(Tolerant):
    """points/<id>/point.json of a sweep folder: the point's swept values and seed."""

    id: str | None = None
    swept: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None


class SweepStatusRecord(Tolerant):
    """status/<id>.json of a sweep folder: what happened to a point (failed: the error)."""

    state: str | None = None
    error: str | None = None


class TunedVariant(Tolerant):
    """One variant's search in tuned.json: its trials, the best trial and its settings, the
    fixed protocol's value of every key searched (`fixed`; absent in folders written before
    it was recorded) and the ranges searched."""

    study: str | None = None
    trials_complete: int = 0
    trials_failed: int = 0
    best_trial: int | None = None
    best_value: float | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TunedRecord(Tolerant):
    """tuned.json (experiments/tune.py): written in a tuning folder and beside the final
    ablation's metrics.json, whose variants were trained with each one's best settings. Its
    presence marks an ablation as tuned on validation."""

    objective: str | None = None
    direction: str | None = None
    trial_seeds: list[int] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    sampler: str | None = None
    storage: str | None = None
    budget: dict[str, int] = Field(default_factory=dict)  # variant -> complete trials asked
    equal_budget: bool | None = None
    test_split_read_by_trials: bool | None = None
    variants: dict[str, TunedVariant] = Field(default_factory=dict)

    @property
    def trials_text(self) -> str:
        """How many trials per variant: "8 trials per variant" (unequal budgets: "6-8 trials
        per variant, unequal budgets")."""
        counts = sorted(set(self.budget.values()))
        if not counts:
            return "trials per variant not recorded"
        if len(counts) == 1:
            return f"{counts[0]} trial{'s' if counts[0] != 1 else ''} per variant"
        return f"{counts[0]}-{counts[-1]} trials per variant, unequal budgets"

    @property
    def label(self) -> str:
        """How a run of these settings was set up: "tuned on validation (8 trials per
        variant)"."""
        return f"tuned on validation ({self.trials_text})"


RECORDS: dict[str, type[Record]] = {
    r.model_fields["command"].default: r
    for r in (
        TrainRecord,
        AblateRecord,
        NoiseSweepRecord,
        LevelRecord,
        EfficiencyRecord,
        HardwareRecord,
        DiagnoseRecord,
    )
}
AnyRecord = Annotated[
    TrainRecord
    | AblateRecord
    | NoiseSweepRecord
    | LevelRecord
    | EfficiencyRecord
    | HardwareRecord
    | DiagnoseRecord,
    Field(discriminator="command"),
]


# --- writing and reading ----------------------------------------------------------------------


def as_json(part: BaseModel) -> dict:
    """The plain JSON mapping of a record or part, as it is written (NaN stays NaN here)."""
    return part.model_dump(mode="json")


def write_record(path: str | Path, record: BaseModel) -> None:
    """Write a record (or a SeedRecord) as JSON, non-finite numbers as null."""
    if isinstance(record, Record) and type(record) not in RECORDS.values():
        raise TypeError(f"{type(record).__name__} is not a record kind")
    text = json.dumps(json_finite(as_json(record)), indent=2, sort_keys=False) + "\n"
    _write_whole(Path(path), text)


def _write_whole(path: Path, text: str) -> None:
    """Write `text` whole or not at all (a hidden `.<name>.part` sibling renamed over
    `path`, as runs.write_text does); an OSError is one RunFolderError naming `path`."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_text(text)
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None


def migrate(raw: dict) -> dict:
    """The one migration of a metrics.json read back (old folders stay readable).

    Folders written before records existed have no `schema_version`. Their keys are those
    of version 1, except that noise sweeps written before the experiment stopped knowing the
    paper have the paper's Table II value in every table row (`paper_quantum`; the report
    puts the paper's values beside the measurements itself). So such a folder gets
    `schema_version: 1`, loses `paper_quantum`, and is then validated like any other: a key
    that does not validate is still an error. A folder with `schema_version` is not touched.
    """
    if "schema_version" in raw:
        return raw
    raw = {**raw, "schema_version": SCHEMA_VERSION}
    if raw.get("command") == "noise-sweep" and isinstance(raw.get("table"), list):
        raw["table"] = [
            {k: v for k, v in row.items() if k != "paper_quantum"} if isinstance(row, dict) else row
            for row in raw["table"]
        ]
    return raw


def parse_record(raw: Any, source: str = MARKER) -> Record:
    """A mapping read from `source` -> its record, chosen by `command` (the union AnyRecord,
    dispatched through RECORDS so that an unknown command is an error of its own); one
    RunFolderError line naming `source` and the key when it does not validate."""
    if not isinstance(raw, dict):
        raise RunFolderError(f"{source}: not a JSON object")
    command = raw.get("command")
    if command not in RECORDS:
        known = ", ".join(RECORDS)
        where = "required key is missing" if "command" not in raw else f"{command!r} is unknown"
        raise RunFolderError(f"{source}: command: {where} (one of: {known})")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise RunFolderError(
            f"{source}: schema_version: {version!r} is not one this qmoe reads "
            f"({SCHEMA_VERSION}); a newer qmoe wrote it"
        )
    try:
        return RECORDS[command].model_validate(migrate(raw))
    except ValidationError as exc:
        raise RunFolderError(f"{source}: {validation_message(exc, raw)}") from None


MAX_RECORD_BYTES = 64 * 2**20  # a sweep's metrics.json lists every point: a few MB at most


def read_record(path: str | Path) -> Record:
    """Read and validate a run folder's metrics.json (`path`: the file or its folder)."""
    path = Path(path)
    if path.is_dir() and path.name != MARKER:  # the folder, not a metrics.json folder
        path = path / MARKER
    try:
        text = files.read_text(path, MAX_RECORD_BYTES)
    except files.Refused as exc:
        raise RunFolderError(f"cannot read {path}: {exc.reason}") from None
    except FileNotFoundError:
        raise RunFolderError(f"missing file: {path}") from None
    except IsADirectoryError:
        raise RunFolderError(f"cannot read {path}: a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise RunFolderError(
            f"cannot read {path}: not UTF-8 text (byte {exc.start}); binary or corrupted"
        ) from None
    except OSError as exc:
        raise RunFolderError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise RunFolderError(f"{path}: not valid JSON (nested too deeply)") from None
    return parse_record(raw, str(path))


def validation_message(exc: ValidationError, raw: Any) -> str:
    """The first problem as `dotted.key: what` (`summary.0.test_acc_mean: required key is
    missing`), and how many more there are; one line."""
    errors = exc.errors()
    err = errors[0]
    key = _key(err["loc"], raw)
    if err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown key"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    text = f"{key}: {msg}{more}" if key else f"{msg}{more}"
    return text.replace("\n", "\\n")


def _key(loc: tuple, raw: Any) -> str:
    """The dotted key of a pydantic error location, following the data (a union's member
    names in the location, such as `float` or `Stat`, are not keys and are dropped)."""
    parts, node = [], raw
    for item in loc:
        if isinstance(node, dict) and item in node:
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, dict) and isinstance(item, str) and not _is_member_name(item):
            parts.append(item)  # a missing key
            node = None
    return ".".join(parts)


def _is_member_name(item: str) -> bool:
    """A pydantic union member label in an error location (`int`, `float`, `Stat`, ...)."""
    return item in ("int", "float", "str", "bool", "none", "list", "dict") or item[:1].isupper()
