import json
import math

import pytest

from qmoe_cli.data import fashion_mnist
from qmoe_cli.experiments.efficiency import efficiency_point, pareto_front, smallest_reaching
from qmoe_cli.runs import read_csv

from .conftest import only_complete_run, run_group
from .test_datasets_real import make_idx_dir

TINY = {
    "kind": "efficiency",
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
    assert metrics["selected_by"] == "mean validation accuracy"
    points = {p["variant"]: p for p in metrics["points"]}
    assert points["q2"]["router_params"] == 2 and points["lin"]["router_params"] == 6
    assert set(metrics["pareto"]) <= set(points)
    assert set(metrics["smallest_reaching"]) == {"0.5", "0.99"}
    for p in points.values():
        assert 0.0 <= p["val_acc_mean"] <= 1.0
        assert 0.0 <= p["test_acc_ci_low"] <= p["test_acc_mean"] <= p["test_acc_ci_high"] <= 1.0
    for by_router in metrics["smallest_reaching"].values():
        for hit in by_router.values():
            if hit:
                assert hit["val_acc_mean"] == points[hit["variant"]]["val_acc_mean"]
                assert hit["test_acc_mean"] == points[hit["variant"]]["test_acc_mean"]
    rows = read_csv(group / "efficiency.csv")
    assert {r["variant"] for r in rows} == set(points)
    assert all("val_acc_mean" in r for r in rows)
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


def test_fashion_mnist_from_the_system_copy_runs_and_the_report_names_it(
    tmp_path, write_config, cli, monkeypatch
):
    monkeypatch.setenv("QMOE_DATA_DIR", str(tmp_path / "nothing-here"))
    system = tmp_path / "system-fashion-mnist"
    make_idx_dir(system, n_train=300, n_test=100)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    cfg = {
        **TINY,
        "data": {"name": "fashion_mnist", "classes": [0, 1], "pca_components": 2},
        "variants": {"lin": TINY["variants"]["lin"]},
    }
    group, _ = run_group(cli, "efficiency", write_config(cfg), tmp_path / "out")
    metrics = json.loads((group / "metrics.json").read_text())
    assert metrics["skipped"] is None and [p["variant"] for p in metrics["points"]] == ["lin"]
    source = f"Fashion-MNIST IDX files in {system} (Debian's dataset-fashion-mnist;"
    assert metrics["data"]["source"].startswith(source)
    result = cli("report", group, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report" / "report.md").read_text()
    section = md[md.index("### Parameter efficiency on fashion_mnist") :]
    assert source in section.split("\n\n")[1]  # the line under the section's heading


def test_pareto_and_smallest_reaching_on_a_hand_made_example():
    points = [
        {"variant": "a", "router": "mlp", "router_params": 10, "val_acc_mean": 0.90},
        {"variant": "b", "router": "mlp", "router_params": 20, "val_acc_mean": 0.85},
        {"variant": "c", "router": "quantum", "router_params": 8, "val_acc_mean": 0.80},
        {"variant": "d", "router": "quantum", "router_params": 30, "val_acc_mean": 0.95},
    ]
    assert pareto_front(points) == ["c", "a", "d"]
    reach = smallest_reaching(points, [0.85, 0.99])
    assert reach["0.85"]["mlp"]["variant"] == "a"
    assert reach["0.85"]["mlp"]["router_params"] == 10
    assert reach["0.85"]["quantum"]["variant"] == "d"
    assert reach["0.85"]["quantum"]["router_params"] == 30
    assert reach["0.99"] == {"mlp": None, "quantum": None}


def _seed(seed: int, val: float, test: float, router_params: int) -> dict:
    """A hand-made per-seed metrics dict, shaped like train.run_seed's."""
    return {
        "seed": seed,
        "val_accuracy": val,
        "test_accuracy": test,
        "test_f1_macro": test,
        "params": {"router": router_params, "experts": 12, "total": router_params + 12},
        "eta": test / math.log(1 + router_params),
        "epochs_run": 10,
        "best_epoch": 10,
        "epochs_to_90_val": None,
        "fit_seconds": 0.1,
        "usage": {"gate_entropy": 0.5, "unused_experts": 0},
    }


def _point(name: str, router: str, params: int, vals: list, tests: list) -> dict:
    per_seed = [_seed(i, v, t, params) for i, (v, t) in enumerate(zip(vals, tests, strict=True))]
    return efficiency_point(name, "", router, per_seed)


def test_selection_follows_validation_not_test_accuracy():
    # Validation and test orderings disagree on purpose: "big" has the best test accuracy,
    # but "mid" the best validation accuracy; "small_q" tests well but validates badly.
    points = [
        _point("small", "mlp", 10, [0.80, 0.82, 0.84], [0.70, 0.72, 0.74]),
        _point("mid", "mlp", 20, [0.95, 0.96, 0.97], [0.80, 0.81, 0.82]),
        _point("big", "mlp", 40, [0.88, 0.90, 0.92], [0.97, 0.98, 0.99]),
        _point("small_q", "quantum", 8, [0.60, 0.62, 0.64], [0.99, 0.99, 1.00]),
        _point("big_q", "quantum", 24, [0.91, 0.93, 0.95], [0.75, 0.80, 0.85]),
    ]
    by = {p["variant"]: p for p in points}
    assert by["mid"]["val_acc_mean"] == pytest.approx(0.96)
    assert by["mid"]["test_acc_mean"] == pytest.approx(0.81)
    # By test accuracy the front would be small_q alone (it is the smallest and tests best);
    # by validation accuracy it climbs small_q -> small -> mid, and big (worse on
    # validation than mid, though better on test) is off it.
    assert pareto_front(points) == ["small_q", "small", "mid"]

    reach = smallest_reaching(points, [0.9, 0.99])
    mlp, quantum = reach["0.9"]["mlp"], reach["0.9"]["quantum"]
    assert mlp["variant"] == "mid" and mlp["router_params"] == 20  # not "big" (test 0.98)
    assert quantum["variant"] == "big_q"  # not small_q, whose test accuracy is 0.99
    assert mlp["val_acc_mean"] == pytest.approx(0.96)
    # What is reported of the selected router is its test accuracy, CI truncated to [0, 1].
    assert mlp["test_acc_mean"] == pytest.approx(0.81)
    assert mlp["test_acc_std"] == pytest.approx(0.01)
    assert mlp["test_acc_ci_low"] < 0.81 < mlp["test_acc_ci_high"]
    assert reach["0.99"] == {"mlp": None, "quantum": None}
    # small_q's interval around 0.993 would cross 1 untruncated.
    assert by["small_q"]["test_acc_ci_high"] == 1.0


@pytest.mark.parametrize(
    "name", ["two_moons", "two_moons_noise", "mnist_efficiency", "fashion_efficiency"]
)
def test_paper_configs_validate(cli, name):
    result = cli("validate", f"configs/paper/{name}.yaml")
    assert result.exit_code == 0, result.output
