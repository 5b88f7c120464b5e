"""The component registries: a dataset, a router or an experts kind is one module plus one
entry in its registry (qmoe_cli/data/__init__.py: DATASET_KINDS, qmoe_cli/models/routers/
__init__.py: ROUTERS, qmoe_cli/models/experts/__init__.py: EXPERTS), and config.py stays
light enough to import without torch or sklearn."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

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
from qmoe_cli.models.experts import EXPERT_TYPES, EXPERTS, LinearExpertsConfig
from qmoe_cli.models.routers import ROUTER_TYPES, ROUTERS, QuantumRouterConfig

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- the registries


def test_tables_derived_from_the_dataset_registry():
    generators = ("hidden_manifold", "two_curves", "hyperplanes_parity", "linearly_separable")
    files = ("csv", "npz")
    assert DATASETS == ("two_moons", "circles", "digits", "mnist", "fashion_mnist", *files,
                        *generators)  # fmt: skip
    assert DATASET_ONLY_KEYS == {
        "n_samples": ("two_moons", "circles", *generators),
        "noise": ("two_moons", "circles", *generators),
        "factor": ("circles",),
        "data_dir": ("mnist", "fashion_mnist"),
        "classes": ("digits", "mnist", "fashion_mnist"),
        "path": files,
        "test_path": files,
        "label_column": ("csv",),
        "header": ("csv",),
        "n_features": generators,
        "task_seed": generators,
        "manifold_dimension": ("hidden_manifold",),
        "degree": ("two_curves",),
        "offset": ("two_curves",),
        "n_hyperplanes": ("hyperplanes_parity",),
        "dim_hyperplanes": ("hyperplanes_parity",),
        "margin": ("linearly_separable",),
    }
    assert DATASET_FEATURES == {
        "two_moons": 2,
        "circles": 2,
        "digits": 64,
        "mnist": 784,
        "fashion_mnist": 784,
        **dict.fromkeys(files + generators),  # known once loaded, or from n_features
    }
    assert [kind.name for kind in DATASET_KINDS] == list(DATASETS)


def test_router_and_experts_registries():
    assert ROUTER_TYPES == ("linear", "mlp", "quantum", "fourier", "none")
    assert EXPERT_TYPES == ("linear", "mlp", "quantum") and EXPERTS[0] is LinearExpertsConfig
    for kind in ROUTERS:  # every kind builds through its own config class
        assert "build" in vars(kind)
    error = "Input tag 'foo' found using 'type' does not match any of the expected tags: "
    with pytest.raises(ConfigError, match="model.router.type: " + error):
        validate_config({"model": {"router": {"type": "foo"}}})
    with pytest.raises(ConfigError, match="model.experts.type: " + error + "'linear'"):
        validate_config({"model": {"experts": {"type": "foo"}}})


def test_experts_without_type_are_linear_and_errors_name_the_key():
    cfg = validate_config({"model": {"experts": {"count": 3}}})
    assert isinstance(cfg.model.experts, LinearExpertsConfig) and cfg.model.experts.count == 3
    assert validate_config(cfg.model_dump(mode="json")) == cfg
    with pytest.raises(ConfigError, match=r"model\.experts\.count: Input should be greater"):
        validate_config({"model": {"experts": {"count": 1}}})
    with pytest.raises(ConfigError, match=r"model\.experts\.hidden: unknown key"):
        validate_config({"model": {"experts": {"type": "linear", "hidden": 3}}})


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
        "import sys, qmoe_cli.config, qmoe_cli.data, qmoe_cli.models.routers; "
        "print(sorted(m for m in ('torch', 'sklearn', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --------------------------------------------------------------------------- a new kind of each

SPIRALS = '''
"""Two interleaved spirals."""

from __future__ import annotations

from pydantic import Field

from qmoe_cli.data.base import Generated


class Spirals(Generated):
    name = "spirals"
    features = 2

    turns: float = Field(1.5, gt=0.0, le=10.0, description="turns of each arm")

    @classmethod
    def load(cls, cfg, seed):
        import numpy as np

        rng = np.random.default_rng(seed)
        n = cfg.n_samples // 2
        t = np.sqrt(rng.uniform(size=n)) * cfg.turns * 2 * np.pi
        arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
        X = np.concatenate([arm, -arm]) + rng.normal(scale=cfg.noise, size=(2 * n, 2))
        return X, np.repeat([0, 1], n), f"two spirals (n_samples={cfg.n_samples})"
'''

TEMPERED = '''
"""A linear router whose initial logits are divided by a temperature."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.models.base import RouterConfigBase


class TemperedRouterConfig(RouterConfigBase):
    """Softmax((W x + b) / T) at initialisation."""

    type: Literal["tempered"]
    temperature: float = Field(2.0, gt=0.0, description="T")
    no_stacked_form = "an nn.Sequential: no stacked form written"

    def build(self, n_features, n_experts):
        import torch
        from torch import nn

        layer = nn.Linear(n_features, n_experts)
        with torch.no_grad():
            layer.weight /= self.temperature
            layer.bias /= self.temperature
        return nn.Sequential(layer, nn.Softmax(dim=-1))
'''

WIDE = '''
"""Experts sharing one hidden layer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qmoe_cli.models.base import ExpertsConfigBase


class WideExpertsConfig(ExpertsConfigBase):
    """A tanh layer, then every expert's logits."""

    type: Literal["wide"]
    hidden: int = Field(8, ge=1, description="hidden units")
    no_stacked_form = "a shared hidden layer: no stacked form written"

    def build(self, n_features, n_classes):
        from torch import nn

        module = nn.Sequential(
            nn.Linear(n_features, self.hidden),
            nn.Tanh(),
            nn.Linear(self.hidden, self.count * n_classes),
            nn.Unflatten(1, (self.count, n_classes)),
        )
        module.count = self.count
        return module
'''

CHECKS = """
import json, sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from qmoe_cli.cli import app
from qmoe_cli.config import validate_config
from qmoe_cli.docs import config_reference
from qmoe_cli.errors import ConfigError
from qmoe_cli.report.inputs import DATASETS


def error(raw):
    try:
        validate_config(raw)
    except ConfigError as exc:
        return str(exc)
    raise AssertionError(f"accepted: {raw}")


cfg = validate_config({"data": {"name": "spirals"}})
assert (cfg.data.turns, cfg.data.n_samples, cfg.data.noise) == (1.5, 1000, 0.1), cfg.data
assert cfg.data.model_dump()["turns"] == 1.5
assert validate_config({}).data.turns is None
assert "'turns' does not apply to dataset 'two_moons'" in error({"data": {"turns": 2}})
assert "model.router.temperature: " in error(
    {"model": {"router": {"type": "tempered", "temperature": 0}}}
)
assert "'tempered'" in error({"model": {"router": {"type": "nope"}}})
assert "model.experts.hidden: " in error({"model": {"experts": {"type": "wide", "hidden": 0}}})
assert "'quantum', 'wide'" in error({"model": {"experts": {"type": "nope"}}})
reference = config_reference()
for needle in ("spirals only: turns of each arm (1.5)", "`model.router` with `type: tempered`",
               "`model.experts` with `type: wide`", "| `hidden` |"):
    assert needle in reference, needle
assert "spirals" in DATASETS

config = {
    "kind": "train",
    "name": "new-kinds",
    "data": {"name": "spirals", "n_samples": 200, "turns": 1.0},
    "model": {
        "router": {"type": "tempered", "temperature": 3.0},
        "experts": {"type": "wide", "count": 3, "hidden": 4},
    },
    "train": {"epochs": 2, "batch_size": 32},
    "seeds": [0],
}
Path("new.yaml").write_text(yaml.safe_dump(config))
result = CliRunner().invoke(app, ["train", "new.yaml", "--out", "runs"])
assert result.exit_code == 0, result.output
(metrics,) = Path("runs").glob("*/metrics.json")
text = metrics.read_text()
assert "two spirals (n_samples=200)" in text, text[:2000]
print("ok")
"""


def _register(init: Path, registry: str, module: str, name: str) -> None:
    """The one registry line: import the kind and append it to the registry tuple."""
    text = init.read_text()
    found = re.search(rf"^{registry}\b[^=]*= \((.*?)\)$", text, re.S | re.M)
    assert found, f"{registry} not found in {init}"
    entries = found.group(1).rstrip().rstrip(",")
    text = text[: found.start(1)] + f"{entries}, {name}" + text[found.end(1) :]
    text = text.replace("\n# The registry", f"\nfrom {module} import {name}\n\n# The registry")
    init.write_text(text)


def test_a_new_dataset_router_and_experts_kind_are_one_file_and_one_registry_entry(tmp_path):
    """A copy of the package with three new modules and their registry entries: the config
    accepts them (with the same kind of errors), the docs list their keys, the report knows
    the dataset, and `qmoe train` runs them. No other file of the copy is changed."""
    pkg = tmp_path / "src" / "qmoe_cli"
    shutil.copytree(ROOT / "qmoe_cli", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "data" / "spirals.py").write_text(SPIRALS)
    (pkg / "models" / "routers" / "tempered.py").write_text(TEMPERED)
    (pkg / "models" / "experts" / "wide.py").write_text(WIDE)
    _register(pkg / "data" / "__init__.py", "DATASET_KINDS", "qmoe_cli.data.spirals", "Spirals")
    routers = pkg / "models" / "routers" / "__init__.py"
    _register(routers, "ROUTERS", "qmoe_cli.models.routers.tempered", "TemperedRouterConfig")
    experts = pkg / "models" / "experts" / "__init__.py"
    _register(experts, "EXPERTS", "qmoe_cli.models.experts.wide", "WideExpertsConfig")

    changed = sorted(
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if not (ROOT / "qmoe_cli" / p.relative_to(pkg)).is_file()
        or p.read_text() != (ROOT / "qmoe_cli" / p.relative_to(pkg)).read_text()
    )
    assert changed == [
        "data/__init__.py",
        "data/spirals.py",
        "models/experts/__init__.py",
        "models/experts/wide.py",
        "models/routers/__init__.py",
        "models/routers/tempered.py",
    ]
    work = tmp_path / "work"
    work.mkdir()
    (work / "checks.py").write_text(textwrap.dedent(CHECKS))
    env = {"PYTHONPATH": str(pkg.parent), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    env.update({k: v for k, v in os.environ.items() if k in ("HOME", "TMPDIR")})
    result = subprocess.run(
        [sys.executable, "checks.py"], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
