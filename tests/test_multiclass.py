"""More than two classes through train, ablate, efficiency and report: digits with its 10
classes and E >= C experts; per-class accuracy and macro-F1; no decision-boundary figures
(a note instead) for inputs that are not 2-D."""

import json
import math

import numpy as np
import pytest
import torch
import yaml

from qmoe_cli import records
from qmoe_cli.metrics import evaluate, per_class_accuracy

DIGITS = {
    "name": "digits10",
    "data": {"name": "digits", "pca_components": 4},
    "model": {"experts": {"count": 10}},
    "train": {"epochs": 2, "early_stopping": False},
    "seeds": [0],
}
QUANTUM = {"type": "quantum", "qubits": 4, "layers": 2, "embedding": "ry", "readout": "probs"}


def test_per_class_accuracy_is_each_class_recall():
    y = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    out = per_class_accuracy(y, pred, 4)
    assert out[:3] == [0.5, 2 / 3, 0.0] and math.isnan(out[3])


def test_evaluate_reports_per_class_accuracy_for_every_class_of_the_model():
    from qmoe_cli.config import ModelConfig
    from qmoe_cli.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(experts={"count": 3}), 2, 5)
    x = torch.randn(40, 2)
    y = torch.arange(40) % 3  # classes 3 and 4 absent from y
    m = evaluate(model, x, y)
    assert len(m["per_class_accuracy"]) == 5
    assert 0.0 <= m["f1_macro"] <= 1.0


def test_seed_record_takes_per_class_accuracy_and_omits_it_when_absent(tmp_path):
    fields = records.SeedRecord.model_fields
    assert "test_per_class_accuracy" in fields
    info = records.DataInfo(
        source="s", n_train=1, n_val=1, n_test=1, n_features=2, n_classes=2, labels=["a", "b"]
    )
    assert info.model_dump()["labels"] == ["a", "b"]
    plain = records.DataInfo(source="s", n_train=1, n_val=1, n_test=1, n_features=2, n_classes=2)
    assert "labels" not in plain.model_dump()


@pytest.mark.parametrize("kind", ["train", "ablate", "efficiency"])
def test_ten_digit_classes_run_and_report(kind, tmp_path, write_config, cli):
    cfg = {**DIGITS, "kind": kind}
    if kind == "train":
        cfg["model"] = {**cfg["model"], "router": QUANTUM}
    else:
        cfg["variants"] = {"A": {"router": {"type": "linear"}}, "B": {"router": QUANTUM}}
        if kind == "ablate":
            cfg["reference"] = "B"
    path = write_config(cfg)
    out = tmp_path / "runs"
    result = cli(kind, path, "--out", out, *(["--jobs", "1"] if kind != "train" else []))
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["n_classes"] == 10 and metrics["data"]["n_features"] == 4
    assert not list(run.rglob("decision_boundar*.png"))  # 4 features: no grid figures
    seed_metrics = json.loads(next(run.rglob("seed-0/metrics.json")).read_text())
    per_class = seed_metrics["test_per_class_accuracy"]
    assert len(per_class) == 10 and all(0.0 <= v <= 1.0 for v in per_class)
    report = tmp_path / "report"
    result = cli("report", run, "--out", report)
    assert result.exit_code == 0, result.output
    text = (report / "report.md").read_text()
    if kind != "efficiency":
        assert "No decision-boundary or routing figures" in text
        assert "class 9" in text and "macro F1" in text
        lines = text.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("| model | macro F1 |"))
        assert "n/a" not in lines[header + 2]  # each class's accuracy, recorded per seed


def test_more_experts_than_basis_states_is_refused_for_ten_classes(write_config):
    from qmoe_cli.config import validate_config
    from qmoe_cli.errors import ConfigError

    raw = yaml.safe_load(yaml.safe_dump({**DIGITS, "model": {"experts": {"count": 10},
                                         "router": {**QUANTUM, "qubits": 3}}}))  # fmt: skip
    raw["data"]["pca_components"] = 3
    with pytest.raises(ConfigError, match="10 experts exceed the 8 basis states of 3 qubits"):
        validate_config(raw)


def test_report_averages_per_class_accuracy_over_the_seeds_that_record_it():
    from qmoe_cli.report.measured import _per_class

    class Seed:
        def __init__(self, values):
            self.test_per_class_accuracy = values

    assert _per_class([Seed([1.0, 0.5, None]), Seed([0.0, 0.5, None]), Seed(None)]) == [
        0.5,
        0.5,
        pytest.approx(math.nan, nan_ok=True),
    ]
    assert _per_class([Seed(None)]) is None and _per_class(None) is None
