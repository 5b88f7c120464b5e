import json
import math

import numpy as np
import pytest
import torch
import yaml

from qmoe_cli.config import AblationConfig, validate_config
from qmoe_cli.data import load_dataset
from qmoe_cli.errors import ConfigError
from qmoe_cli.metrics import holm, paired_comparison
from qmoe_cli.models.moe import balance_loss, top_k_gates
from qmoe_cli.models.torch_routers import FourierRouter, count_fourier_terms, fourier_terms
from qmoe_cli.runs import read_csv

from .conftest import only_complete_run, run_group

TINY_ABLATION = {
    "kind": "ablate",
    "name": "tiny-ablation",
    "data": {"name": "two_moons", "n_samples": 150},
    "model": {"experts": {"count": 4}},
    "train": {"epochs": 4, "batch_size": 32, "patience": 2},
    "seeds": [0, 1],
    "reference": "B",
    "variants": {
        "A": {"label": "linear", "router": {"type": "linear"}},
        "B": {"label": "quantum", "router": {"type": "quantum", "qubits": 2, "layers": 2}},
        "C": {"router": {"type": "mlp", "hidden": [4]}},
        "D": {"router": {"type": "fourier"}},
    },
}


def test_tiny_ablation_writes_consistent_outputs(tmp_path, write_config, cli):
    outputs = (
        "config.yaml",
        "env.json",
        "metrics.json",
        "summary.csv",
        "comparisons.csv",
        "decision_boundaries.png",
        "routing_maps.png",
        "training_curves.png",
    )
    group, output = run_group(cli, "ablate", write_config(TINY_ABLATION), tmp_path, outputs)
    summary = {r["variant"]: r for r in read_csv(group / "summary.csv")}
    assert list(summary) == ["A", "B", "C", "D"]
    assert summary["B"]["router_params"] == "4" and summary["A"]["router_params"] == "12"
    per_seed = {}
    for name in summary:
        variant = group / "variants" / name
        assert (variant / "config.yaml").is_file() and (variant / "seed-1" / "model.pt").is_file()
        rows = read_csv(variant / "summary.csv")
        accs = [float(r["test_accuracy"]) for r in rows]
        per_seed[name] = accs
        # the group's summary is computed from the variant's per-seed runs
        assert float(summary[name]["test_acc_mean"]) == pytest.approx(np.mean(accs))
        assert float(summary[name]["test_acc_std"]) == pytest.approx(np.std(accs, ddof=1))
    comparisons = read_csv(group / "comparisons.csv")
    assert [(c["a"], c["b"]) for c in comparisons] == [("B", "A"), ("B", "C"), ("B", "D")]
    for c in comparisons:
        diff = np.array(per_seed["B"]) - np.array(per_seed[c["b"]])
        assert float(c["mean_diff"]) == pytest.approx(diff.mean())
        assert c["test"] and "Holm-adjusted p = " in c["verdict"]
    p = [float(c["p"]) for c in comparisons]
    assert [float(c["p_holm"]) for c in comparisons] == pytest.approx(holm(p), nan_ok=True)
    metrics = json.loads((group / "metrics.json").read_text())
    assert metrics["reference"] == "B" and len(metrics["summary"]) == 4
    assert "paired over 2 seeds" in output


def test_summary_gives_medians_effective_ranks_and_the_plateau_share(tmp_path, write_config, cli):
    raw = {**TINY_ABLATION, "seeds": [0, 1, 2], "plateau": 0.8}
    group, output = run_group(cli, "ablate", write_config(raw), tmp_path)
    metrics = json.loads((group / "metrics.json").read_text())
    csv_rows = {r["variant"]: r for r in read_csv(group / "summary.csv")}
    for row in metrics["summary"]:
        per_seed = json.loads((group / "variants" / row["variant"] / "metrics.json").read_text())
        per_seed = per_seed["per_seed"]
        accs = [m["test_accuracy"] for m in per_seed]
        trained = [m["effective_params"]["trained"] for m in per_seed]
        at_init = [m["effective_params"]["init"] for m in per_seed]
        assert min(accs) <= row["test_acc_median"] <= max(accs)
        assert row["test_acc_median"] == pytest.approx(np.median(accs))
        assert 0.0 <= row["test_acc_ci_low"] <= row["test_acc_ci_high"] <= 1.0
        assert row["plateau"] == 0.8
        assert row["share_above_plateau"] == pytest.approx(np.mean([a > 0.8 for a in accs]))
        assert 0.0 <= row["share_above_plateau"] <= 1.0
        assert row["router_params_effective"] == np.median(trained)
        assert row["router_params_effective_init"] == np.median(at_init)
        assert row["router_params_effective_min"] == min(trained)
        assert row["router_params_effective_max"] == max(trained)
        low, high = row["router_params_effective_min"], row["router_params_effective_max"]
        assert 0 < low <= row["router_params_effective"] <= high <= row["router_params"]
        assert row["eta_effective_mean"] == pytest.approx(
            np.mean([m["eta_effective"] for m in per_seed])
        )
        assert row["eta_effective_mean"] >= row["eta_mean"]  # fewer parameters, same accuracy
        assert set(row) <= set(csv_rows[row["variant"]])
    by = {r["variant"]: r for r in metrics["summary"]}
    assert by["A"]["router_params_effective"] == 9  # (4 - 1)(2 + 1) of 12
    assert by["B"]["router_params_effective"] == 4  # 2 qubits x 2 layers: all 4 count
    assert "> 0.8" in output and "eff P" in output


def test_every_variant_sees_the_same_split(tmp_path, write_config, cli):
    config = write_config(TINY_ABLATION)
    group, _ = run_group(cli, "ablate", config, tmp_path, (), "--seeds", "3")
    infos = {
        json.dumps(json.loads((v / "seed-3" / "metrics.json").read_text())["data"])
        for v in (group / "variants").iterdir()
    }
    assert len(infos) == 1


def test_a_variant_with_its_own_scaling_and_early_stopping(tmp_path, write_config, cli):
    """`scaling` and `train` of a variant replace the shared keys for it alone: the split is
    the seed's (the same rows as the shared variant's), only the fitted scaling differs."""
    raw = {
        **TINY_ABLATION,
        "seeds": [3],
        "train": {"epochs": 3, "batch_size": 32, "early_stopping": False},
        "reference": "A",
        "variants": {
            "A": {"router": {"type": "linear"}},
            "A_std": {
                "label": "linear router, standard scaling",
                "router": {"type": "linear"},
                "overrides": {
                    "data.scaling": "standard",
                    "train.early_stopping": True,
                    "train.patience": 1,
                },
            },
        },
    }
    cfg = validate_config(raw, schema=AblationConfig)
    shared, own = cfg.variant("A"), cfg.variant("A_std")
    assert (shared.data.scaling, own.data.scaling) == ("minmax_pi", "standard")
    assert (shared.train.early_stopping, own.train.early_stopping) == (False, True)
    assert (own.train.patience, own.train.epochs) == (1, 3)  # the rest of `train` is shared
    a, b = load_dataset(shared.data, 3), load_dataset(own.data, 3)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.rows[split], b.rows[split])
        np.testing.assert_array_equal(getattr(a, f"y_{split}"), getattr(b, f"y_{split}"))
    assert a.X_train.min() == pytest.approx(0) and a.X_train.max() == pytest.approx(math.pi)
    np.testing.assert_allclose(b.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(b.X_train.std(axis=0), 1, atol=1e-12)
    group, _ = run_group(cli, "ablate", write_config(raw), tmp_path)
    for name, scaling in (("A", "minmax_pi"), ("A_std", "standard")):
        folder = group / "variants" / name
        assert yaml.safe_load((folder / "config.yaml").read_text())["data"]["scaling"] == scaling
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["data"]["scaling"] == scaling
        assert metrics["per_seed"][0]["data"]["n_test"] == len(a.y_test)


def test_a_bad_variant_scaling_is_one_line_naming_the_key(write_config, cli):
    raw = json.loads(json.dumps(TINY_ABLATION))
    raw["variants"]["A"]["overrides"] = {"data.scaling": "zscore"}
    result = cli("validate", write_config(raw))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "variants.A: data.scaling: Input should be 'minmax_pi', 'standard' or 'none'" in lines[0]


def test_ablation_config_errors_name_the_variant():
    raw = json.loads(json.dumps(TINY_ABLATION))
    raw["variants"]["B"]["router"]["qubits"] = 1
    with pytest.raises(ConfigError, match="variants.B: model.experts.count: 4 experts exceed"):
        validate_config(raw, schema=AblationConfig)
    raw = json.loads(json.dumps(TINY_ABLATION))
    raw["reference"] = "Z"
    with pytest.raises(ConfigError, match="reference: 'Z' is not one of the variants"):
        validate_config(raw, schema=AblationConfig)


def test_paired_comparison_on_a_hand_made_example():
    a = [0.90, 0.92, 0.94, 0.96, 0.98]
    b = [0.80, 0.83, 0.83, 0.87, 0.87]
    # differences 0.10 0.09 0.11 0.09 0.11: mean 0.10, sample std 0.01,
    # t = 0.10 / (0.01 / sqrt 5) = 22.36 with 4 dof -> two-sided p = 2.4e-5
    c = paired_comparison(a, b, "B", "A")
    assert c["mean_diff"] == pytest.approx(0.10)
    half = 2.776445 * 0.01 / math.sqrt(5)
    assert c["ci_low"] == pytest.approx(0.10 - half, rel=1e-5)
    assert c["t_test_p"] == pytest.approx(2.4e-5, rel=0.05)
    assert c["wilcoxon_p"] == pytest.approx(0.0625)
    assert c["verdict"].startswith("B beats A by 10.0 points")
    same = paired_comparison([0.9, 0.8], [0.9, 0.8], "B", "A")
    assert math.isnan(same["t_test_p"]) and "no significant difference" in same["verdict"]
    noisy = paired_comparison([0.9, 0.8, 0.85], [0.85, 0.84, 0.86], "B", "C")
    assert "no significant difference" in noisy["verdict"]


def test_fourier_features_match_the_closed_form():
    x = torch.tensor([[0.3, 1.1], [2.0, 0.5]], dtype=torch.float64)
    router = FourierRouter(2, 4).double()
    f = router.features(x)
    c0, s0, c1, s1 = torch.cos(x[:, 0]), torch.sin(x[:, 0]), torch.cos(x[:, 1]), torch.sin(x[:, 1])
    expected = torch.stack([c1, s1, c0, c0 * c1, c0 * s1, s0, s0 * c1, s0 * s1], dim=1)
    torch.testing.assert_close(f, expected)
    assert sum(p.numel() for p in router.parameters()) == (8 + 1) * 4
    # order 1 keeps single factors; frequency 2 adds cos 2x, sin 2x
    assert len(fourier_terms(3, 1, 1)) == 6
    assert count_fourier_terms(2, 2, None) == len(fourier_terms(2, 2, None)) == 24
    assert count_fourier_terms(8, 1, None) == 3**8 - 1
    torch.manual_seed(0)
    sampled = fourier_terms(8, 1, 2, sample=50)
    assert len(sampled) == 50 and len({t.tobytes() for t in sampled}) == 50
    assert ((sampled[..., 0] > 0).sum(axis=1) <= 2).all()


def test_too_many_fourier_terms_is_a_config_error():
    from qmoe_cli.models import build_model

    cfg = validate_config({"model": {"router": {"type": "fourier"}}})
    with pytest.raises(ConfigError, match="set max_order or random_features"):
        build_model(cfg.model, n_features=12, n_classes=2)


def test_top_k_keeps_k_largest_and_renormalises():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]])
    g = top_k_gates(probs, 2)
    torch.testing.assert_close(g, torch.tensor([[0.625, 0.375, 0, 0], [0, 0, 3 / 7, 4 / 7]]))
    torch.testing.assert_close(top_k_gates(probs, 1).sum(1), torch.ones(2))


def test_balance_loss_is_one_when_balanced_and_e_when_collapsed():
    uniform = torch.full((8, 4), 0.25)
    assert balance_loss(uniform, uniform).item() == pytest.approx(1.0)
    collapsed = torch.tensor([[1.0, 0, 0, 0]] * 8)
    assert balance_loss(collapsed, collapsed).item() == pytest.approx(4.0)
    probs = torch.softmax(torch.randn(16, 4, requires_grad=True), dim=1)
    balance_loss(probs, top_k_gates(probs, 2)).backward()  # differentiable through P only


def test_balance_weight_spreads_the_load_in_training():
    from qmoe_cli.training.seeds import run_seed

    base = {
        "data": {"n_samples": 300},
        "model": {"experts": {"count": 4}},
        "train": {"epochs": 15, "early_stopping": False},
        "seeds": [0],
    }
    plain = run_seed(validate_config(base), 0).metrics["usage"]
    balanced_cfg = json.loads(json.dumps(base))
    balanced_cfg["model"]["balance_weight"] = 1.0
    balanced = run_seed(validate_config(balanced_cfg), 0).metrics["usage"]
    assert balanced["gate_entropy"] > plain["gate_entropy"]
    topk_cfg = json.loads(json.dumps(base))
    topk_cfg["model"]["top_k"] = 1
    sparse = run_seed(validate_config(topk_cfg), 0).metrics["usage"]
    assert sparse["gate_entropy"] == pytest.approx(0.0, abs=1e-9)  # one expert per input


@pytest.mark.slow
def test_ablation_in_worker_processes_matches_in_process(tmp_path, write_config):
    """The process pool (spawned workers) gives bit-identical results to --jobs 1."""
    from .conftest import run_qmoe

    cfg = write_config(TINY_ABLATION)
    for jobs in ("1", "2"):
        proc = run_qmoe("ablate", cfg, "--out", tmp_path / jobs, "--jobs", jobs)
        assert proc.returncode == 0, proc.stderr
    rows = [read_csv(only_complete_run(tmp_path / j) / "summary.csv") for j in ("1", "2")]
    for a, b in zip(*rows, strict=True):
        assert a["test_acc_mean"] == b["test_acc_mean"] and a["eta_mean"] == b["eta_mean"]


def test_verdict_states_the_ci_of_winner_minus_loser():
    c = paired_comparison([0.90, 0.91, 0.92, 0.90, 0.95], [0.95, 0.97, 0.96, 0.93, 0.99], "B", "C")
    assert c["verdict"].startswith("C beats B by 4.4 points (95% CI 3.0 to 5.8")
