"""The config reference, docs/configuration.md, generated from the pydantic config models
(`make docs` writes it: tools/docs.py).

Every key, its type (with its range), its default and its description come from the models'
`model_fields`; nested models are found by following the annotations, so a new key or a new
router type shows up without touching this file. Only page text lives here: the intro, the
shipped configs, `NOTES` (prose shown under a model's table) and the cross-field checks.
tests/test_docs.py fails when the committed page differs from `config_reference()`, and when
a field has no description.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, Discriminator
from pydantic.fields import FieldInfo

from qmoe_cli import config as C
from qmoe_cli.config import SweepConfig

# Model name -> Markdown shown under its table.
NOTES: dict[str, str] = {
    "ExperimentConfig": """\
A seed drives everything random in its run: the data generation (synthetic datasets), the
stratified train/val/test split, the model initialisation and the mini-batch order. The same
config and seed give the same metrics on the same machine.""",
    "DataConfig": """\
`test_fraction + val_fraction` must be below 0.9. Splits are stratified, and every class must
appear in each split. PCA and scaling are fitted on the training rows only. A key that
applies only to some datasets is an error for the others (`'noise' does not apply to dataset
'mnist'`); so switching a config with `n_samples`/`noise` from two_moons to mnist needs
`--set data.n_samples= --set data.noise=` as well. The defaults of `n_samples` (1000) and
`noise` (0.1) are filled in for two_moons and circles, so a resolved config shows them.

With `n_train` and `n_test` null, the test and validation splits are `test_fraction` and
`val_fraction` of all rows. With them set, `n_train + n_test` rows are drawn, stratified,
from the (class-filtered) pool, and validation takes `ceil(val_fraction * n_train)` of the
`n_train` rows: `n_train: 300, n_test: 100` gives 270 train, 30 validation and 100 test
rows. When the pool is smaller than `n_train + n_test`, all of it is used, divided in the
same ratio, and the dataset's `source` (in every `metrics.json`) says so.

The datasets, where the MNIST files are looked for and the offline fallback:
[datasets.md](datasets.md).""",
    "ModelConfig": """\
The model output is the gate-weighted sum of the experts' logits, trained with cross-entropy.
The balance loss (Fedus et al. 2021, eq. 4) is E x sum_i f_i P_i, with f_i the share of the
batch dispatched to expert i (its top gate when dense; its share of the k assignments with
`top_k`; f carries no gradient) and P_i the mean router probability of expert i: 1 for a
perfectly balanced router, E when every input goes to one expert. It is added to the training
loss only; early stopping watches the plain validation cross-entropy. The expert-usage
metrics are computed from the gates actually used (after `top_k`).

The default router is `linear`. `type` selects the router; the other keys depend on it.
In the parameter counts below, d is the number of input features and E = `experts.count`.""",
    "LinearRouterConfig": """\
Router parameters P = E (d + 1), e.g. 4 x 3 = 12 on Two Moons.""",
    "MLPRouterConfig": """\
`hidden: [12, 12]` on Two Moons with 4 experts: 36 + 156 + 52 = 244 parameters; `hidden:
[40], bias: false`: 80 + 160 = 240.""",
    "QuantumRouterConfig": """\
The circuit conventions, backends and cross-checks: [quantum.md](quantum.md).""",
    "NoiseConfig": """\
The two libraries' depolarizing parameters map as p = 3 eps / 4 (PennyLane) for eps
(Qiskit); the notebooks' `DepolarizingChannel(p)` is eps = 4 p / 3 (their p = 0.01 is
`depolarizing: 0.0133`). `depolarizing_2q` is an error under placement `notebook`. More:
[noise.md](noise.md).""",
    "FourierRouterConfig": """\
Why it is the control: [quantum.md](quantum.md#model-d-the-fourier-feature-control).
The number of terms is T = sum over j = 1 .. min(max_order, d) of C(d, j) (2K)^j, and
P = (T + 1) E. More than 50,000 terms without `random_features` is a config error, raised
when the model is built (by `train`/`ablate`, not by `validate`).""",
    "AblationConfig": """\
A variant's run is the shared config with `model.router` (and `model.experts` and the
dotted keys of `overrides`, e.g. `{data.scaling: standard, train.patience: 20}`, if the
variant gives them) replaced and `name` set to `<name>-<variant>` (cut to 64 chars); the
shared `model.router` itself is not used. A variant's own scaling keeps the seed's split (the
same rows for every variant, so comparisons stay paired over seeds); only the scaling fitted
on its training rows differs, and its `metrics.json` (`data.scaling`) and `config.yaml`
record it. Each variant is
validated as a full train config, and its problems are reported under `variants.<variant>:`.""",
    "NoiseSweepConfig": """\
The shared `model.router` must be a quantum router; baselines must be classical. With
`model.router.noise.fake_backend` set, only mode `evaluate` is allowed. What the sweep
writes and how the breakdown point is computed: [noise.md](noise.md).""",
    "SweepConfig": """\
How a sweep runs, resumes and reports: [sweeps.md](sweeps.md).""",
}

INTRO = """\
# Config reference

<!-- Generated from the pydantic models by `make docs` (tools/config_reference.py); do not
edit by hand: change the config models (each key's Field(description=...)) and rerun. -->

Every key is declared in a pydantic model: `qmoe_cli/config/` for the experiment, `data:`
in `qmoe_cli/data/` (`DataConfig`, with each dataset's own keys in its module) and each
router and experts kind in its module under `qmoe_cli/models/` (see
[extending.md](extending.md)); an unknown key anywhere is an error. Ranges
are inclusive unless written with `<` / `>`. `qmoe validate CONFIG` prints a config resolved,
every default filled in. `--set KEY=VALUE` overrides any key (see
[commands.md](commands.md#overrides)).

The shipped configs in `configs/` (the paper's Two Moons settings; `configs/paper/` holds the
paper's full protocol, run by `make reproduce-paper`):
"""

# The shipped configs (configs/), for the table under INTRO: file, command, what.
SHIPPED_CONFIGS = [
    ("two_moons_linear.yaml", "train", "Model A: linear router, 4 experts, 12 router parameters"),
    (
        "two_moons_mlp.yaml",
        "train",
        "Model C: MLP router, hidden `[12, 12]`, 244 router parameters (the paper says 240 "
        "without a layout)",
    ),
    (
        "two_moons_quantum.yaml",
        "train",
        "Model B as the paper's text: 2 qubits, 12 layers of `ry_cz`, `probs` readout, "
        "4 experts, 24 parameters",
    ),
    (
        "two_moons_quantum_notebook.yaml",
        "train",
        "Model B as the public notebooks: `strongly_entangling`, 2 qubits, 3 layers (18) + "
        "`expval` adapter (6), 2 experts, 24 parameters",
    ),
    (
        "two_moons.yaml",
        "ablate",
        "A / B / C / D on 4 experts, router parameters 12 / 24 / 244 / 36, reference B",
    ),
    (
        "two_moons_notebook.yaml",
        "ablate",
        "the notebooks' variant: B as in `two_moons_quantum_notebook.yaml`, against A, C, D on "
        "the same 2 experts",
    ),
    (
        "tune_two_moons.yaml",
        "tune",
        "A / B / C tuned on validation with 6 trials each (lr log-uniform, weight decay, batch "
        "size, early stopping and patience; input scaling for A and C), then 5 final seeds "
        "tested once ([tune.md](tune.md))",
    ),
    (
        "two_moons_noise.yaml",
        "noise-sweep",
        "the paper's Table II: Model B (2 qubits, 12 `ry_cz` layers, 4 experts) under "
        "depolarizing noise after every gate, beside the linear router (Model A)",
    ),
    (
        "fully_quantum.yaml",
        "ablate",
        "Sec. VI-E: A, the hybrid B (quantum router + linear experts), the fully quantum QMoE FQ "
        "(B's router + 4 quantum experts of 2 qubits, 10 qubits, 72 parameters) and a "
        "monolithic 10-qubit QNN (72 parameters, router `none`), 5 seeds, early stopping; "
        "`paper/fully_quantum.yaml` is A, B and FQ under the paper's protocol; docs/experts.md",
    ),
    (
        "fully_quantum_noise.yaml",
        "noise-sweep",
        "FQ under the levels and protocol of `paper/two_moons_noise.yaml` (the hybrid it "
        "is paired with), every circuit noisy, 20 seeds",
    ),
    (
        "paper/reproduce.yaml",
        "run",
        "every experiment of `make reproduce-paper`, as a plan (`qmoe run`)",
    ),
    (
        "sweeps/two_moons_quantum_grid.yaml",
        "sweep",
        "qubits x layers of the quantum router, 2 seeds",
    ),
]


CROSS_FIELD = """\
## Cross-field checks

Besides types and ranges, a config is rejected (exit code 2) when:

- `data.test_fraction + data.val_fraction` >= 0.9, or `data.factor` is set for a dataset other
  than `circles`;
- `train.momentum` is non-zero with `optimizer: adam`;
- `model.top_k` exceeds `model.experts.count`;
- a `quantum` router with `readout: probs` has more experts than basis states
  (`experts.count` > 2^`qubits`); `expval` has no such limit;
- a `quantum` router has fewer qubits than input features (`data.pca_components` if set, else
  2 for `two_moons` and `circles`);
- `model.experts.count` is 1 with a router other than `none`, or the router is `none` with
  more than one expert (quantum and MLP experts take `count: 1`: a monolithic model);
- `quantum` experts have fewer qubits than input features, or `model.experts.noise` is set
  with a `quantum` router (whose `noise` applies to every circuit of the model);
- in a noise sweep, a baseline has quantum experts (baselines are classical);
- in an ablation config: `reference` is not a variant, a variant name is invalid, or a
  variant fails any check above.
"""

# The group configs: a train config plus the keys below (their own fields minus the shared).
GROUPS: list[tuple[type[BaseModel], str, str]] = [
    (C.AblationConfig, "Ablation configs", "`qmoe ablate`"),
    (C.NoiseSweepConfig, "Noise-sweep configs", "`qmoe noise-sweep`"),
    (C.EfficiencyConfig, "Efficiency configs", "`qmoe efficiency`"),
]


@dataclass
class Section:
    """One table: a model's fields, documented under a dotted config path."""

    path: str  # dotted path of the mapping, "" for the top level
    model: type[BaseModel]
    fields: list[str]
    title: str
    level: int = 3


# --------------------------------------------------------------------------- types


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return f"{value:g}"


def _bounds(metadata: list) -> str:
    lo = hi = None
    lengths = []
    pattern = None
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = ("<=", m.ge)
        elif isinstance(m, at.Gt):
            lo = ("<", m.gt)
        elif isinstance(m, at.Le):
            hi = ("<=", m.le)
        elif isinstance(m, at.Lt):
            hi = ("<", m.lt)
        elif isinstance(m, at.MinLen):
            lengths.append(f"at least {m.min_length} long")
        elif isinstance(m, at.MaxLen):
            lengths.append(f"up to {m.max_length} chars")
        elif getattr(m, "pattern", None):
            pattern = m.pattern
    parts = []
    if lo and hi and lo[0] == hi[0] == "<=":
        parts.append(f"{_number(lo[1])} to {_number(hi[1])}")
    elif lo and hi:
        parts.append(f"{_number(lo[1])} {lo[0]} x {hi[0]} {_number(hi[1])}")
    elif lo:
        parts.append(f"{'>=' if lo[0] == '<=' else '>'} {_number(lo[1])}")
    elif hi:
        parts.append(f"{hi[0]} {_number(hi[1])}")
    parts += lengths
    if pattern:
        parts.append(f"matching `{pattern}`")
    return ", ".join(parts)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config models an annotation holds (unions, lists, dict values, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        for model in _models_in(arg):
            if model not in found:
                found.append(model)
    return found


def _tag(model: type[BaseModel]) -> str | None:
    """The discriminator value of a union member (its `type: Literal[...]`), if any."""
    field = model.model_fields.get("type")
    if field is not None and get_origin(field.annotation) is Literal:
        return str(get_args(field.annotation)[0])
    return None


def type_text(annotation: Any, metadata: list | None = None) -> str:
    """A field's type in words, with its constraints: `int, 1 to 20`, `list of float`, ..."""
    metadata = list(metadata or [])
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        inner, *extra = args
        for m in extra:
            metadata += m.metadata if isinstance(m, FieldInfo) else [m]
        return type_text(inner, metadata)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        models = _models_in(annotation)
        if len(members) > 1 and len(models) == len(members):
            tags = [_tag(m) for m in models]
            text = "mapping, by `type`: " + " | ".join(f"`{t}`" for t in tags)
        else:
            text = " or ".join(type_text(m, metadata) for m in members)
        return f"{text} or null" if nullable else text
    if origin is Literal:
        return " | ".join(f"`{v}`" for v in args)
    if origin is list:
        item = type_text(args[0]) if args else "any"
        text = f"list of {item}"
        bounds = _bounds(metadata)
        return f"{text} ({bounds})" if bounds else text
    if origin is dict:
        value = type_text(args[1]) if len(args) > 1 else "any"
        return f"mapping of string -> {value}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if any(isinstance(m, Discriminator) for m in metadata):  # a union of one kind
            return f"mapping, by `type`: `{_tag(annotation)}`"
        return f"mapping (`{annotation.__name__}`)"
    if annotation is Any:
        return "any"
    name = {int: "int", float: "float", str: "string", bool: "bool"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )
    bounds = _bounds(metadata)
    return f"{name} ({bounds})" if bounds else name


# --------------------------------------------------------------------------- defaults


def _flow(value: Any) -> str:
    """A value as YAML flow text: null, true, [0, 1], {type: linear}."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else repr(value)
    if isinstance(value, BaseModel):
        return _flow(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value) if value != "" else '""'


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    text = _flow(value)
    if isinstance(value, BaseModel) and len(text) > 40:
        return "its defaults (below)"
    return f"`{text}`"


# --------------------------------------------------------------------------- sections


def description(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].description or ""


def _walk(
    model: type[BaseModel], path: str, fields: list[str], seen: set, level: int = 3
) -> Iterator[Section]:
    """A model's own section, then the sections of the models it nests (depth first)."""
    if model in seen:
        return
    seen.add(model)
    tag = _tag(model)
    if path == "":
        title = "Top level"
    elif tag is not None:  # a member of a union by `type` (a router or experts kind)
        title = f"`{path}` with `type: {tag}`"
    else:
        title = f"`{path}`"
    yield Section(path, model, fields, title, level)
    for name in fields:
        annotation = model.model_fields[name].annotation
        origin = get_origin(annotation)
        if origin is dict or (
            origin in (Union, types.UnionType)
            and any(get_origin(a) is dict for a in get_args(annotation))
        ):
            sub = f"{path}.{name}.<name>" if path else f"{name}.<name>"
        else:
            sub = f"{path}.{name}" if path else name
        for nested in _models_in(annotation):
            yield from _walk(nested, sub, list(nested.model_fields), seen, level)


def _group_configs() -> list[tuple[type[BaseModel], str]]:
    """The configs that extend a train config: GROUPS first, then any other subclass."""
    out = [(model, f"{title} ({command})") for model, title, command in GROUPS]
    pending = list(C.ExperimentConfig.__subclasses__())
    while pending:
        model = pending.pop(0)
        pending += model.__subclasses__()
        if all(model is not known for known, _ in out):
            out.append((model, f"`{model.__name__}`"))
    return out


def sections() -> list[Section]:
    """Every documented model, in page order (each model once): the train config and what it
    nests, the configs extending it (their own keys), the sweep file, then any other model
    of config_modules() that none of these reaches."""
    seen: set = set()
    out = list(_walk(C.ExperimentConfig, "", list(C.ExperimentConfig.model_fields), seen))
    shared = set(C.ExperimentConfig.model_fields)
    for model, title in _group_configs():
        own = [f for f in model.model_fields if f not in shared]
        group = list(_walk(model, "", own, seen))
        if group:
            group[0].title, group[0].level = title, 2
        out += group
    sweep = list(_walk(SweepConfig, "", list(SweepConfig.model_fields), seen))
    if sweep:
        sweep[0].title, sweep[0].level = "Sweep files (`qmoe sweep`)", 2
    out += sweep
    for module in config_modules():
        for obj in list(vars(module).values()):
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseModel)
                and obj.__module__ == module.__name__
                and obj.model_fields
                and obj not in seen
            ):
                other = list(_walk(obj, obj.__name__, list(obj.model_fields), seen))
                other[0].title, other[0].level = f"`{obj.__name__}`", 2
                out += other
    return out


def config_modules() -> list[types.ModuleType]:
    """The modules that declare config models: the config package, the dataset registry (DataConfig;
    the datasets' own keys are documented there) and the module of every router and experts
    kind in the registries."""
    from qmoe_cli import data
    from qmoe_cli.models.experts import EXPERTS
    from qmoe_cli.models.routers import ROUTERS

    out = [sys.modules[name] for name in sorted(sys.modules) if name.startswith(f"{C.__name__}.")]
    out.append(data)
    for kind in (*ROUTERS, *EXPERTS):
        module = sys.modules[kind.__module__]
        if module not in out:
            out.append(module)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    if not doc or doc.startswith(f"{model.__name__}("):  # pydantic's generated signature
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def render_section(section: Section) -> str:
    model = section.model
    lines = [f"{'#' * section.level} {section.title}", ""]
    about = f"Model: `{model.__module__}.{model.__name__}`."
    summary = _summary(model)
    if section.level == 2 and section.path == "" and model is not SweepConfig:
        about += " A train config (every key above) plus the keys below."
    lines += [f"{summary} {about}" if summary else about, ""]
    if section.fields:
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name in section.fields:
            field = model.model_fields[name]
            cells = [
                f"`{name}`",
                type_text(field.annotation, list(field.metadata)),
                default_text(field),
                description(model, name),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    note = NOTES.get(model.__name__)
    if note:
        lines += [note, ""]
    return "\n".join(lines)


def config_reference() -> str:
    """docs/configuration.md: one Markdown table per config model."""
    table = ["| config | command | what |", "|---|---|---|"]
    table += [f"| `{f}` | {cmd} | {what} |" for f, cmd, what in SHIPPED_CONFIGS]
    parts = [INTRO, *table, "", "## Train configs (`qmoe train`, and shared by every command)", ""]
    parts += [render_section(s) for s in sections()]
    parts.append(CROSS_FIELD)
    return "\n".join(parts).rstrip("\n") + "\n"
