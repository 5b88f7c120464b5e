import json

import pytest

from qmoe_cli.experiments.efficiency import pareto_front, smallest_reaching
from qmoe_cli.runs import read_csv

from .conftest import only_complete_run, run_group

TINY = {
    "name": "tiny-eff",
    "data": {"name": "two_moons", "n_samples": 120},
    "model": {"experts": {"count": 2}},
    "train": {"epochs": 3, "batch_size": 32},
    "seeds": [0, 1],
    "thresholds": [0.5, 0.99],
    "variants": {
        "lin": {"router": {"type": "linear"}},
        "mlp2": {"router": {"type": "mlp", "hidden": [2]}},
        "q2": {"router": {"type": "quantum", "qubits": 2, "layers": 1}},
    },
}


def test_tiny_efficiency_sweep_writes_every_output(tmp_path, write_config, cli):
    outputs = ("config.yaml", "env.json", "metrics.json", "efficiency.csv")
    outputs += ("accuracy_vs_params.png",)
    group, output = run_group(cli, "efficiency", write_config(TINY), tmp_path, outputs)
    metrics = json.loads((group / "metrics.json").read_text())
    assert metrics["skipped"] is None
    points = {p["variant"]: p for p in metrics["points"]}
    assert points["q2"]["router_params"] == 2 and points["lin"]["router_params"] == 6
    assert set(metrics["pareto"]) <= set(points)
    assert set(metrics["smallest_reaching"]) == {"0.5", "0.99"}
    rows = read_csv(group / "efficiency.csv")
    assert {r["variant"] for r in rows} == set(points)
    for name in points:
        per_seed = read_csv(group / "variants" / name / "summary.csv")
        assert len(per_seed) == 2
    assert "smallest router reaching" in output


def test_missing_data_is_reported_as_skipped(tmp_path, write_config, cli, monkeypatch):
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    cfg = {**TINY, "data": {"name": "fashion_mnist", "classes": [0, 1], "pca_components": 2}}
    result = cli("efficiency", write_config(cfg), "--out", tmp_path / "out", "--jobs", "1")
    assert result.exit_code == 0, result.output
    group = only_complete_run(tmp_path / "out")
    metrics = json.loads((group / "metrics.json").read_text())
    assert "qmoe data fetch fashion-mnist" in metrics["skipped"] and metrics["points"] == []
    assert "skipped" in result.output


def test_pareto_and_smallest_reaching_on_a_hand_made_example():
    points = [
        {"variant": "a", "router": "mlp", "router_params": 10, "test_acc_mean": 0.90},
        {"variant": "b", "router": "mlp", "router_params": 20, "test_acc_mean": 0.85},
        {"variant": "c", "router": "quantum", "router_params": 8, "test_acc_mean": 0.80},
        {"variant": "d", "router": "quantum", "router_params": 30, "test_acc_mean": 0.95},
    ]
    assert pareto_front(points) == ["c", "a", "d"]
    reach = smallest_reaching(points, [0.85, 0.99])
    assert reach["0.85"]["mlp"] == {"variant": "a", "router_params": 10}
    assert reach["0.85"]["quantum"] == {"variant": "d", "router_params": 30}
    assert reach["0.99"] == {"mlp": None, "quantum": None}


@pytest.mark.parametrize(
    "name", ["two_moons", "two_moons_noise", "mnist_efficiency", "fashion_efficiency"]
)
def test_paper_configs_validate(cli, name):
    result = cli("validate", f"configs/paper/{name}.yaml")
    assert result.exit_code == 0, result.output
