"""The report over a tuned ablation (`qmoe tune`'s final run) beside fixed-protocol runs: its
rows labelled with the protocol, a verdict that differs between fixed and tuned
setup-dependent naming both (the tuned one as the fair comparison), the best settings
beside the fixed protocol's."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qmoe_cli import records
from qmoe_cli.config import ExperimentConfig
from qmoe_cli.errors import ConfigError
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS
from qmoe_cli.report import claims_tables
from qmoe_cli.report import verdicts as V
from qmoe_cli.report.inputs import Run, Stat, read_tuned
from qmoe_cli.report.measured import ModelResult
from qmoe_cli.report.render import Table

from .conftest import only_complete_run

TUNED = records.TunedRecord(
    objective="val_loss",
    trial_seeds=[1000, 1001],
    budget={"A": 8, "B": 8},
    equal_budget=True,
    variants={
        "A": records.TunedVariant(
            trials_complete=8,
            best_trial=3,
            best_value=0.05,
            settings={"train.lr": 0.05, "data.scaling": "standard"},
            fixed={"train.lr": 0.01, "data.scaling": "minmax_pi"},
            space={"train.lr": {}, "data.scaling": {}},
        ),
        "B": records.TunedVariant(
            trials_complete=8,
            best_trial=5,
            best_value=0.04,
            settings={"train.lr": 0.02},
            fixed={"train.lr": 0.01},
            space={"train.lr": {}},
        ),
    },
)


def _run(label: str, tuned: records.TunedRecord | None = None) -> Run:
    config = {"data": {"name": "two_moons"}, "train": {"epochs": 100, "early_stopping": False}}
    cfg = ExperimentConfig(**config)
    return Run(Path(f"/x/{label}"), label, "ablate", None, None, cfg, "", tuned=tuned)


def _model(run: Run, variant: str, router: str, params: int, accs) -> ModelResult:
    return ModelResult(
        run, variant, variant, router, params, params + 12,
        Stat(float(np.mean(accs)), n=len(accs)), [5] * len(accs), 100,
        per_seed_acc=list(accs), early_stopping=False, n_test=200,
    )  # fmt: skip


def _judged(fixed_gap: float, tuned_gap: float):
    """A fixed and a tuned ablation of A and B (B - A about the gaps), judged."""
    rng = np.random.default_rng(0)
    models = []
    for run, gap in ((_run("R1"), fixed_gap), (_run("R2", TUNED), tuned_gap)):
        a = list(0.90 + 0.01 * rng.standard_normal(10))
        b = [x + gap + 0.005 * rng.standard_normal() for x in a]
        models += [_model(run, "A", "linear", 12, a), _model(run, "B", "quantum", 24, b)]
    runs = [models[0].run, models[2].run]
    ev = V.Evidence(runs, models, [], [], CLAIMS, PAPER_EPOCHS)
    findings = V.evaluate(ev, CLAIMS, PAPER_EPOCHS)
    by_claim = V.verdicts(findings, CLAIMS)
    return findings, {v.claim.id: v for v in by_claim}, by_claim


def test_a_tuned_runs_rows_are_labelled_with_its_protocol():
    findings, _, _ = _judged(0.03, 0.03)
    rows = [f for f in findings if f.claim.id == "cmp.quantum_vs_linear"]
    tuned = [f for f in rows if f.protocol]
    (fixed,) = [f for f in rows if not f.protocol]
    (tuned_row,) = tuned
    assert tuned_row.protocol == "tuned on validation (8 trials per variant)"
    assert tuned_row.source.startswith("R2") and tuned_row.protocol in tuned_row.source
    assert "tuned" not in fixed.source
    assert tuned_row.as_dict()["protocol"] == tuned_row.protocol
    assert fixed.as_dict()["protocol"] == V.FIXED


def test_a_verdict_that_differs_between_fixed_and_tuned_is_setup_dependent_naming_both():
    findings, by_id, by_claim = _judged(0.03, 0.0)  # B beats A fixed, not once tuned
    rows = {f.protocol: f for f in findings if f.claim.id == "cmp.quantum_vs_linear"}
    assert rows[""].category == V.REPRODUCED
    assert rows["tuned on validation (8 trials per variant)"].category == V.NOT_REPRODUCED
    verdict = by_id["cmp.quantum_vs_linear"]
    assert verdict.category == V.SETUP_DEPENDENT
    fixed_at, tuned_at = verdict.reason.index(V.FIXED), verdict.reason.index(V.FAIR)
    assert fixed_at < tuned_at  # both shown, the tuned one labelled as the fair comparison
    assert "R1" in verdict.reason and "R2" in verdict.reason
    assert "tuned on validation (8 trials per variant) (the fair comparison)" in verdict.reason
    assert verdict.primary is rows["tuned on validation (8 trials per variant)"]
    # the tuned run's tests join the claim's family (one family, the same adjusted p)
    assert all("over the claim's 2 tests" in f.measured for f in rows.values())

    (heading, _, table) = claims_tables.protocol_table(findings, by_claim)
    assert isinstance(table, Table)
    row = next(r for r in table.rows if r[0] == "cmp.quantum_vs_linear")
    assert row[2].startswith("R1: reproduced") and row[3].startswith("R2: not reproduced")
    assert row[4] == "setup-dependent (the protocols disagree)"
    assert table.headers[2] == V.FIXED and V.FAIR in table.headers[3]


def test_fixed_and_tuned_that_agree_keep_the_verdict_and_say_so():
    _, by_id, _ = _judged(0.03, 0.03)
    verdict = by_id["cmp.quantum_vs_linear"]
    assert verdict.category == V.REPRODUCED
    assert "the paper's protocol and tuning on validation agree" in verdict.reason


def test_without_a_tuned_run_there_is_no_protocol_table():
    rng = np.random.default_rng(1)
    run = _run("R1")
    a = list(0.90 + 0.01 * rng.standard_normal(10))
    models = [_model(run, "A", "linear", 12, a), _model(run, "B", "quantum", 24, a)]
    ev = V.Evidence([run], models, [], [], CLAIMS, PAPER_EPOCHS)
    findings = V.evaluate(ev, CLAIMS, PAPER_EPOCHS)
    assert claims_tables.protocol_table(findings, V.verdicts(findings, CLAIMS)) == []


def test_unequal_budgets_are_said():
    uneven = TUNED.model_copy(update={"budget": {"A": 6, "B": 8}})
    assert uneven.label == "tuned on validation (6-8 trials per variant, unequal budgets)"


# --- a tiny real tune and a fixed ablation, through `qmoe report` -------------------------------

BASE = {
    "kind": "ablate",
    "name": "tiny",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"experts": {"count": 2}},
    "train": {"epochs": 3, "batch_size": 16, "lr": 0.01},
    "reference": "B",
    "seeds": [0, 1, 2],
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum", "qubits": 2, "layers": 2}},
        "C": {"router": {"type": "mlp", "hidden": [4]}},
    },
}
TUNE = {
    "kind": "tune",
    "name": "tiny_tuned",
    "base": BASE,
    "variants": ["A", "B"],
    "space": {"train.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
    "variant_space": {
        "A": {"data.scaling": {"type": "categorical", "choices": ["minmax_pi", "standard"]}}
    },
    "trials": 2,
    "trial_seeds": [7],
    "seeds": [0, 1, 2],
}


def test_report_over_a_tuned_ablation_and_a_fixed_one(tmp_path, cli):
    (tmp_path / "fixed.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(TUNE))
    for command, config, out in (("ablate", "fixed.yaml", "fixed"), ("tune", "tune.yaml", "t")):
        result = cli(command, tmp_path / config, "--out", tmp_path / out, "--jobs", "1")
        assert result.exit_code == 0, result.output
    final = only_complete_run(tmp_path / "t" / "tiny_tuned" / "final")
    tuned = json.loads((final / "tuned.json").read_text())
    assert list(tuned["variants"]) == ["A", "B"]  # `variants` picks the base's A and B
    assert tuned["variants"]["A"]["fixed"] == {"train.lr": 0.01, "data.scaling": "minmax_pi"}
    ablation = yaml.safe_load((final / "config.yaml").read_text())
    assert list(ablation["variants"]) == ["A", "B"]

    result = cli("report", final, tmp_path / "fixed", "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report" / "report.md").read_text()
    label = "tuned on validation (2 trials per variant)"
    assert f"### R1: {label}" in md
    settings = md.split("R1 best settings per variant")[1].split("\n\n")[1]
    lr = tuned["variants"]["A"]["settings"]["train.lr"]
    assert f"0.01 → {lr:.3g}" in settings and "minmax_pi → " in settings
    assert "minmax_pi (not searched)" in settings  # B keeps its scaling: the value shown
    assert "test accuracy tuned on validation beside the fixed protocol" in md
    assert "| A | R2 (" in md and "points (95 % CI" in md  # A tuned - A fixed, paired
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())["claims"]
    assert any(label in c["source"] and c["protocol"] == label for c in claims)


def test_a_bad_tuned_json_is_one_error_naming_it(tmp_path):
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({"budget": {"A": "many"}}))
    with pytest.raises(ConfigError, match=r"tuned.json: budget.A: "):
        read_tuned(path)
    path.write_text("[]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        read_tuned(path)
    assert read_tuned(tmp_path / "absent.json") is None
