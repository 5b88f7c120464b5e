"""The component registries: a dataset, a router or an experts kind is one module plus one
entry in its registry (qmoe_cli/data/__init__.py: DATASET_KINDS, qmoe_cli/models/routers/
__init__.py: ROUTERS, qmoe_cli/models/experts/__init__.py: EXPERTS), every router and experts
kind declares its stacked form or why it has none, and config.py stays light enough to import
without torch or sklearn. What is expected follows from the registries themselves, and the
worked examples of docs/extending.md are taken from that page, added to a copy of the
package and trained."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from qmoe_cli.config import ExperimentConfig, validate_config
from qmoe_cli.data import (
    DATASET_FEATURES,
    DATASET_KINDS,
    DATASET_ONLY_KEYS,
    DATASETS,
    DataConfig,
    load_dataset,
)
from qmoe_cli.data.base import Generated, Images, keys_model
from qmoe_cli.errors import ConfigError
from qmoe_cli.models import build_model
from qmoe_cli.models.base import (
    ExpertsConfigBase,
    RouterConfigBase,
    stacked_declaration,
    type_tag,
)
from qmoe_cli.models.experts import DEFAULT_EXPERTS, EXPERT_TYPES, EXPERTS
from qmoe_cli.models.routers import ROUTER_TYPES, ROUTERS, QuantumRouterConfig
from qmoe_cli.models.stacked_forms import StackedForm
from qmoe_cli.training.stacked_modules import declared_form

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- the registries


def test_tables_derived_from_the_dataset_registry():
    names = [kind.name for kind in DATASET_KINDS]
    assert DATASETS == tuple(names) and len(set(names)) == len(names)
    for key, datasets in DATASET_ONLY_KEYS.items():  # exactly the kinds declaring the key
        assert datasets == tuple(k.name for k in DATASET_KINDS if key in k.model_fields), key
    for kind in DATASET_KINDS:
        assert DATASET_FEATURES[kind.name] == kind.features
        for key in kind.model_fields:
            assert kind.name in DATASET_ONLY_KEYS[key] and key in DataConfig.model_fields
        # every kind is a choice of data.name (a user file's path is required)
        given = dict.fromkeys(kind.path_keys[:1], "/data/x")
        assert validate_config({"data": {"name": kind.name, **given}}).data.name == kind.name


@pytest.mark.parametrize(
    "key, registry, types, base",
    [
        ("router", ROUTERS, ROUTER_TYPES, RouterConfigBase),
        ("experts", EXPERTS, EXPERT_TYPES, ExpertsConfigBase),
    ],
)
def test_router_and_experts_registries(key, registry, types, base):
    assert types == tuple(type_tag(kind) for kind in registry) and len(set(types)) == len(types)
    for kind in registry:  # every kind builds through its own config class
        assert issubclass(kind, base) and kind.build is not base.build, kind
    expected = ", ".join(f"'{t}'" for t in types)
    error = "Input tag 'foo' found using 'type' does not match any of the expected tags: "
    with pytest.raises(ConfigError, match=re.escape(f"model.{key}.type: {error}{expected}")):
        validate_config({"model": {key: {"type": "foo"}}})


@pytest.mark.parametrize("kind", [*ROUTERS, *EXPERTS], ids=lambda kind: kind.__name__)
def test_every_registered_kind_declares_its_stacked_form_or_why_not(kind):
    """A kind of the registries that declares neither (or both) fails here: the stacked
    engine never passes over a kind silently."""
    path, reason = stacked_declaration(kind)
    if path is not None:
        assert isinstance(declared_form(kind), StackedForm)
    else:
        assert reason.strip() and declared_form(kind) is None


def test_a_kind_declaring_no_stacked_form_nor_a_reason_is_an_error():
    class Undeclared(RouterConfigBase):
        type: Literal["undeclared"]

    class Inherits(Undeclared):
        no_stacked_form = "not yet"

    class Redeclares(Inherits):  # the nearest declaration counts
        stacked_form = "qmoe_cli.models.stacked_forms:linear_router"

    class Both(Undeclared):
        stacked_form = "qmoe_cli.models.stacked_forms:linear_router"
        no_stacked_form = "not yet"

    class Misnamed(Undeclared):
        stacked_form = "qmoe_cli.models.stacked_forms:no_such_form"

    with pytest.raises(TypeError, match="Undeclared declares neither stacked_form"):
        stacked_declaration(Undeclared)
    assert stacked_declaration(Inherits) == (None, "not yet")
    assert declared_form(Redeclares) is declared_form(ROUTERS[ROUTER_TYPES.index("linear")])
    with pytest.raises(TypeError, match="Both declares both"):
        stacked_declaration(Both)
    with pytest.raises(TypeError, match="Misnamed.stacked_form: .* names no StackedForm"):
        declared_form(Misnamed)


def test_experts_without_type_are_the_default_kind_and_errors_name_the_key():
    (default,) = [kind for kind in EXPERTS if type_tag(kind) == DEFAULT_EXPERTS]
    cfg = validate_config({"model": {"experts": {"count": 3}}})
    assert type(cfg.model.experts) is default and cfg.model.experts.count == 3
    assert validate_config(cfg.model_dump(mode="json")) == cfg
    with pytest.raises(ConfigError, match=r"model\.experts\.count: Input should be greater"):
        validate_config({"model": {"experts": {"count": 0}}})
    with pytest.raises(ConfigError, match=r"model\.experts\.no_such_key: unknown key"):
        validate_config({"model": {"experts": {"type": DEFAULT_EXPERTS, "no_such_key": 3}}})


def test_each_dataset_kind_gets_its_own_defaults():
    for kind in DATASET_KINDS:
        given = dict.fromkeys(kind.path_keys[:1], "/data/x")  # a user file's path is required
        cfg = DataConfig(name=kind.name, **given)
        for key, datasets in DATASET_ONLY_KEYS.items():
            own = kind.model_fields.get(key)
            expected = given.get(key, own.default if own is not None else None)
            assert getattr(cfg, key) == expected, (kind.name, key)
            assert (own is not None) == (kind.name in datasets)


def test_a_key_declared_differently_by_two_datasets_is_refused():
    class A(Generated):
        name = "a"

    class B(Images):
        name = "b"
        n_samples: int = Field(10, ge=1, description="points generated")

    with pytest.raises(TypeError, match="'n_samples' is declared differently by datasets 'a'"):
        keys_model((A, B), "a")
    with pytest.raises(TypeError, match="dataset names repeat"):
        keys_model((A, A), "a")


def test_quantum_check_fit_says_what_experiment_validation_says():
    router = QuantumRouterConfig(type="quantum", qubits=2)
    cases = [(5, 2, {"name": "two_moons"}), (2, 3, {"name": "digits", "pca_components": 3})]
    for experts, features, data in cases:
        with pytest.raises(ValueError) as direct:
            router.check_fit(experts, features)
        raw = {
            "data": data,
            "model": {"router": router.model_dump(), "experts": {"count": experts}},
        }
        with pytest.raises(ConfigError) as validated:
            validate_config(raw)
        assert str(direct.value) in str(validated.value)
    router.check_fit(4, 2)  # fits


def test_the_registered_kinds_build_and_load():
    cfg = ExperimentConfig.model_validate(
        {"data": {"n_samples": 100}, "model": {"router": {"type": "mlp", "hidden": [3]}}}
    )
    splits = load_dataset(cfg.data, 0)
    model = build_model(cfg.model, splits.n_features, splits.n_classes)
    assert type(model.router).__name__ == "MLPRouter" and model.experts.count == 2


def test_config_imports_no_torch_sklearn_or_numpy():
    code = (
        "import sys, qmoe_cli.config, qmoe_cli.data, qmoe_cli.models.routers, "
        "qmoe_cli.models.experts; "
        "print(sorted(m for m in ('torch', 'sklearn', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ------------------------------------------------------- extending.md's worked examples

EXTENDING = ROOT / "docs" / "extending.md"
SECTIONS = {"dataset": "A dataset", "router": "A router", "experts": "An expert type"}


@dataclass
class Example:
    """One worked example of docs/extending.md: its new module and its registry line."""

    path: str  # the new module, relative to the repository (its block's first line)
    source: str  # the module's block
    init: str  # the registry's module (the second block's first line)
    registry: str  # the registry's name
    module: str  # the new module, dotted (from the registry block's import)
    name: str  # the new kind's class, appended to the registry


def worked_example(section: str) -> Example:
    """The ```python blocks of an extending.md section: the module, then its registration
    (`from <module> import <Name>` and `<REGISTRY> = (..., <Name>)`)."""
    text = EXTENDING.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert len(blocks) == 2, f"{section}: expected the module's block and the registry's"
    module_block, registry_block = blocks
    path = re.match(r"# (qmoe_cli/\S+\.py)\n", module_block)
    init = re.match(r"# (qmoe_cli/\S+/__init__\.py)\n", registry_block)
    imported = re.search(r"^from (\S+) import (\w+)$", registry_block, re.M)
    entry = re.search(r"^(\w+) = \(\.\.\., (\w+)\)", registry_block, re.M)
    assert path and init and imported and entry, f"{section}: blocks not as expected"
    assert imported.group(2) == entry.group(2), f"{section}: registers what it imports"
    assert imported.group(1).replace(".", "/") + ".py" == path.group(1), section
    return Example(
        path.group(1),
        module_block,
        init.group(1),
        entry.group(1),
        imported.group(1),
        entry.group(2),
    )


def _register(init: Path, example: Example) -> None:
    """The one registry line: import the kind and append it to the registry tuple."""
    text = init.read_text()
    found = re.search(rf"^{example.registry}\b[^=]*= \((.*?)\)$", text, re.S | re.M)
    assert found, f"{example.registry} not found in {init}"
    entries = found.group(1).rstrip().rstrip(",")
    text = text[: found.start(1)] + f"{entries}, {example.name}" + text[found.end(1) :]
    line = f"from {example.module} import {example.name}"
    text = text.replace("\n# The registry", f"\n{line}\n\n# The registry")
    init.write_text(text)


# Run in the copy, with the three new kinds' class names: what follows from the registry
# entries, checked against the kinds' own declarations (no name of this file's choosing).
CHECKS = """
import csv, json, subprocess, sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from qmoe_cli.cli import app
from qmoe_cli.config import validate_config
from qmoe_cli.data import DATASET_KINDS, DATASET_ONLY_KEYS, DEFAULT_DATASET, DataConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.models.base import ExpertsConfigBase, RouterConfigBase, stacked_declaration, type_tag
from qmoe_cli.models.experts import DEFAULT_EXPERTS, EXPERTS
from qmoe_cli.models.routers import ROUTERS
from qmoe_cli.report.inputs import DATASETS
from tools.config_reference import config_reference
from qmoe_cli.training.stacked import supports
from qmoe_cli.training.stacked_modules import declared_form

names = json.loads(sys.argv[1])
(dataset,) = [k for k in DATASET_KINDS if k.__name__ == names["dataset"]]
(router,) = [k for k in ROUTERS if k.__name__ == names["router"]]
(experts,) = [k for k in EXPERTS if k.__name__ == names["experts"]]


def error(raw):
    try:
        validate_config(raw)
    except ConfigError as exc:
        return str(exc)
    raise AssertionError(f"accepted: {raw}")


def own_keys(kind, base):
    return [k for k in kind.model_fields if k not in base.model_fields and k != "type"]


# the dataset: its keys with its defaults, refused for the default dataset, documented
cfg = validate_config({"data": {"name": dataset.name}})
for key, info in dataset.model_fields.items():
    assert getattr(cfg.data, key) == info.get_default(call_default_factory=True), key
    if DEFAULT_DATASET not in DATASET_ONLY_KEYS[key]:
        assert validate_config({}).data.model_dump()[key] is None, key
        message = f"'{key}' does not apply to dataset '{DEFAULT_DATASET}'"
        assert message in error({"data": {key: info.default}}), key
reference = config_reference()
for key in dataset.model_fields:
    assert DataConfig.model_fields[key].description in reference, key
assert dataset.name in DATASETS

# the router and the experts: types, errors naming their keys, the config reference
parts = (("router", router, RouterConfigBase), ("experts", experts, ExpertsConfigBase))
for part, kind, base in parts:
    tag = type_tag(kind)
    assert f"'{tag}'" in error({"model": {part: {"type": "nope"}}})
    assert f"`model.{part}` with `type: {tag}`" in reference
    for key in own_keys(kind, base):
        assert f"| `{key}` |" in reference, key
        assert f"model.{part}.{key}: " in error({"model": {part: {"type": tag, key: [[]]}}})
    for every in (*ROUTERS, *EXPERTS):  # the registry-wide declaration holds in the copy too
        declared_form(every)


def train(name, model, engine):
    data = {"name": dataset.name}
    if "n_samples" in dataset.model_fields:
        data["n_samples"] = 200
    config = {
        "kind": "train",
        "name": name,
        "data": data,
        "model": model,
        "train": {"epochs": 2, "batch_size": 32, "dtype": "float64", "engine": engine},
        "seeds": [0, 1],
    }
    Path(f"{name}.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", f"{name}.yaml", "--out", name])
    assert result.exit_code == 0, result.output
    return validate_config(config), sorted(Path(name).glob("*/seed-*/history.csv"))


# all three new kinds in one model
both = {"router": {"type": type_tag(router)}, "experts": {"type": type_tag(experts), "count": 3}}
cfg, histories = train("new-kinds", both, "stacked")
assert len(histories) == 2
source = dataset.load(cfg.data, 0)[2]
(metrics,) = Path("new-kinds").glob("*/seed-0/metrics.json")
assert source in metrics.read_text(), source

# each of the router and the experts trains stacked, with the numbers of the sequential
# engine, or the stacked engine gives its declared reason
for part, kind in (("router", router), ("experts", experts)):
    model = {"router": {"type": "linear"}, "experts": {"type": DEFAULT_EXPERTS}}
    model[part] = {"type": type_tag(kind)}
    cfg, stacked = train(f"{part}-stacked", model, "stacked")
    path, reason = stacked_declaration(kind)
    if path is None:
        assert supports(cfg) == (
            f"model.{part}.type: {part} type '{type_tag(kind)}' has no stacked form: {reason}"
        ), supports(cfg)
        print(part, "one at a time:", reason)
        continue
    assert supports(cfg) is None, supports(cfg)
    _, sequential = train(f"{part}-sequential", model, "sequential")
    for a, b in zip(stacked, sequential, strict=True):
        rows_a, rows_b = list(csv.DictReader(a.open())), list(csv.DictReader(b.open()))
        assert len(rows_a) == len(rows_b) == 2
        for row_a, row_b in zip(rows_a, rows_b):
            for key in row_a.keys() - {"seconds"}:
                assert abs(float(row_a[key]) - float(row_b[key])) <= 1e-6, (part, key)
    print(part, "stacked:", path)

# the new modules keep the config package light
code = (
    "import sys, qmoe_cli.config; "
    "print(sorted(m for m in ('torch', 'sklearn', 'numpy', 'scipy') if m in sys.modules))"
)
light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
assert light.stdout.strip() == "[]", light.stdout + light.stderr
print("ok")
"""


def test_extending_md_worked_examples_are_one_file_and_one_registry_entry_each(tmp_path):
    """A copy of the package with extending.md's three worked examples (taken from its
    code blocks) and their registry lines: the config accepts them (with the same kind of
    errors), the docs list their keys, the report knows the dataset, `qmoe train` runs them,
    and the router and experts train stacked (with the sequential engine's numbers) or the
    stacked engine gives their declared reason. No other file of the copy is changed."""
    examples = {part: worked_example(section) for part, section in SECTIONS.items()}
    pkg = tmp_path / "src" / "qmoe_cli"
    shutil.copytree(ROOT / "qmoe_cli", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for example in examples.values():
        (pkg.parent / example.path).write_text(example.source)
        _register(pkg.parent / example.init, example)
    changed = sorted(
        str(p.relative_to(pkg.parent))
        for p in pkg.rglob("*.py")
        if not (ROOT / p.relative_to(pkg.parent)).is_file()
        or p.read_text() != (ROOT / p.relative_to(pkg.parent)).read_text()
    )
    assert changed == sorted(f for e in examples.values() for f in (e.path, e.init))
    work = tmp_path / "work"
    work.mkdir()
    (work / "checks.py").write_text(CHECKS)
    path = os.pathsep.join((str(pkg.parent), str(ROOT)))  # the copy's qmoe_cli; tools/
    env = {"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    env.update({k: v for k, v in os.environ.items() if k in ("HOME", "TMPDIR")})
    names = json.dumps({part: example.name for part, example in examples.items()})
    result = subprocess.run(
        [sys.executable, "checks.py", names], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    for part in ("router", "experts"):  # each went through the stacked engine or said why not
        assert f"{part} stacked: " in result.stdout or f"{part} one at a time: " in result.stdout
