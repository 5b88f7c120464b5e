"""`qmoe report`: small real runs (ablate, noise-sweep) plus hand-made efficiency folders."""

import base64
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from qmoe_cli.cli import app
from qmoe_cli.experiments.efficiency import SELECTED_BY, TEST_KEYS
from qmoe_cli.metrics import ETA_DEFINITION, mean_ci
from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_CLASSICAL, PAPER_TABLE_II
from qmoe_cli.records import (
    Aggregate,
    DataInfo,
    EffectiveParams,
    EfficiencyPoint,
    EfficiencyRecord,
    Params,
    SeedRecord,
    Selected,
    TrainRecord,
    Usage,
    write_record,
)
from qmoe_cli.report.verdicts import (
    CATEGORIES,
    INCONSISTENT,
    NOT_MEASURED,
    NOT_REPRODUCED,
    REPRODUCED,
)
from qmoe_cli.runs import is_complete_run

from .conftest import only_complete_run

CHROMIUM = Path("/usr/bin/chromium")

TINY_ABLATION = {
    "kind": "ablate",
    "name": "tiny-report-ablation",
    "data": {"name": "two_moons", "n_samples": 120},
    "model": {"experts": {"count": 4}},
    "train": {"epochs": 2, "batch_size": 32, "patience": 2},
    "seeds": [0, 1],
    "reference": "B",
    "variants": {
        "A": {"label": "linear router", "router": {"type": "linear"}},
        "B": {"label": "quantum router", "router": {"type": "quantum", "qubits": 2, "layers": 2}},
        "C": {"label": "MLP router", "router": {"type": "mlp", "hidden": [4]}},
    },
}
TINY_NOISE = {
    "kind": "noise-sweep",
    "name": "tiny-report-noise",
    "data": {"name": "two_moons", "n_samples": 120},
    "model": {"router": {"type": "quantum", "qubits": 2, "layers": 2}, "experts": {"count": 4}},
    "train": {"epochs": 2, "batch_size": 32, "patience": 2},
    "seeds": [0, 1],
    "levels": [0.0, 0.02],
    "baselines": {"A": {"label": "linear router", "router": {"type": "linear"}}},
}
SKIP_REASON = "Fashion-MNIST IDX files missing; run qmoe data fetch fashion-mnist"


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _data(dataset: str) -> DataInfo:
    return DataInfo(
        source=f"{dataset} test fixture",
        n_train=2000,
        n_val=250,
        n_test=400,
        n_features=8,
        n_classes=2,
    )


def _seed(seed: int, acc: float, params: int, data: DataInfo) -> SeedRecord:
    """One seed of a hand-made variant: its test accuracy; no effective parameter count."""
    return SeedRecord(
        seed=seed,
        test_accuracy=acc,
        test_f1_macro=acc,
        val_accuracy=acc,
        params=Params(router=params, experts=18, total=params + 18),
        eta=acc / math.log1p(params),
        effective_params=EffectiveParams(
            init=None, trained=None, nominal=params, n_inputs=64, rtol=1e-8
        ),
        eta_effective=None,
        epochs_run=20,
        best_epoch=20,
        stopped_early=False,
        epochs_to_90_val=None,
        fit_seconds=1.0,
        usage=Usage(
            mean_gate=[0.5, 0.5],
            top_expert_share=[0.5, 0.5],
            gate_entropy=0.6,
            gate_entropy_max=math.log(2),
            unused_experts=0,
        ),
        data=data,
    )


def _variant_record(p: EfficiencyPoint, data: DataInfo) -> TrainRecord:
    """A point's variants/<name>/ record: n seeds with accuracies mean - std, mean, mean + std."""
    accs = [p.test_acc_mean + p.test_acc_std * (i % 3 - 1) for i in range(p.n_seeds)]
    per_seed = [_seed(i, a, p.router_params, data) for i, a in enumerate(accs)]
    stat = {
        key: mean_ci([math.nan if getattr(s, key) is None else getattr(s, key) for s in per_seed])
        for key in Aggregate.model_fields
    }
    return TrainRecord(
        name=p.variant,
        router=p.router,
        params=per_seed[0].params,
        data=data,
        eta_definition=ETA_DEFINITION,
        aggregate=Aggregate(**stat),
        per_seed=per_seed,
    )


def _efficiency_folder(
    root: Path,
    name: str,
    dataset: str,
    points: tuple[EfficiencyPoint, ...] = (),
    reaching: dict[str, dict[str, str | None]] | None = None,
    skipped: str | None = None,
) -> Path:
    """A hand-made efficiency run-group folder, built through the records `qmoe efficiency`
    writes (`reaching`: threshold -> router -> the variant reaching it, or None)."""
    folder = root / name
    folder.mkdir(parents=True)
    config = {
        "name": name,
        "data": {"name": dataset, "classes": [0, 1], "pca_components": 8},
        "seeds": [0, 1, 2],
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"python": "3.11", "packages": {"qmoe-cli": "0.1.0"}, "git": None, "command": "hand"}
    (folder / "env.json").write_text(json.dumps(env))
    data = None if skipped else _data(dataset)
    by_variant = {p.variant: p for p in points}

    def selected(variant: str | None) -> Selected | None:
        if variant is None:
            return None
        p = by_variant[variant]
        keys = ("variant", "router_params", "val_acc_mean", *TEST_KEYS)
        return Selected(**{k: getattr(p, k) for k in keys})

    record = EfficiencyRecord(
        name=name,
        skipped=skipped,
        data=data,
        eta_definition=None if skipped else ETA_DEFINITION,
        seeds=None if skipped else [0, 1, 2],
        selected_by=SELECTED_BY,
        points=list(points),
        pareto=[p.variant for p in points if p.pareto],
        smallest_reaching={
            t: {router: selected(v) for router, v in by_router.items()}
            for t, by_router in (reaching or {}).items()
        },
    )
    write_record(folder / "metrics.json", record)
    for p in points:
        sub = folder / "variants" / p.variant
        sub.mkdir(parents=True)
        write_record(sub / "metrics.json", _variant_record(p, data))
    return folder


def _point(variant, router, params, mean, half, n=3, pareto=False) -> EfficiencyPoint:
    """An efficiency point; _efficiency_folder writes its per-seed accuracies."""
    return EfficiencyPoint(
        variant=variant,
        label="",
        router=router,
        router_params=params,
        total_params=params + 18,
        n_seeds=n,
        test_acc_mean=mean,
        test_acc_median=mean,
        test_acc_std=half,
        test_acc_ci_low=mean - half,
        test_acc_ci_high=mean + half,
        f1_mean=mean,
        eta_mean=mean / math.log1p(params),
        eta_effective_mean=None,
        router_params_effective_init=None,
        router_params_effective=None,
        router_params_effective_min=None,
        router_params_effective_max=None,
        epochs_to_90_val_mean=None,
        seeds_reaching_90_val=0,
        epochs_run_mean=20.0,
        fit_seconds_mean=1.0,
        gate_entropy_mean=0.6,
        unused_experts_mean=0.0,
        val_acc_mean=mean,
        val_acc_std=half,
        pareto=pareto,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Real tiny runs, a skipped efficiency folder, and one report over all of them."""
    root = tmp_path_factory.mktemp("report")
    for name, cfg, cmd in (
        ("ablation.yaml", TINY_ABLATION, "ablate"),
        ("noise.yaml", TINY_NOISE, "noise-sweep"),
    ):
        (root / name).write_text(yaml.safe_dump(cfg))
        result = _invoke(cmd, root / name, "--out", root / cmd, "--jobs", "1")
        assert result.exit_code == 0, result.output
    ablation = only_complete_run(root / "ablate")
    noise = only_complete_run(root / "noise-sweep")
    skipped = _efficiency_folder(  # as `qmoe efficiency` writes it when the data is missing
        root / "eff", "fashion-efficiency", "fashion_mnist", skipped=SKIP_REASON
    )
    out = root / "report"
    result = _invoke("report", ablation, noise, skipped, "--out", out)
    assert result.exit_code == 0, result.output
    return {
        "root": root,
        "ablation": ablation,
        "noise": noise,
        "skipped": skipped,
        "out": out,
        "stdout": result.output,
        "md": (out / "report.md").read_text(),
        "html": (out / "report.html").read_text(),
        "claims": json.loads((out / "claims.json").read_text())["claims"],
        "verdicts": json.loads((out / "claims.json").read_text())["verdicts"],
    }


def _claims_rows(md: str) -> list[list[str]]:
    """The rows of the Markdown verdicts table (cells split on unescaped pipes)."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| id | claim |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([c.strip() for c in cells])
    return rows


def test_report_writes_markdown_and_html_and_prints_their_paths(built):
    out = built["out"]
    for name in ("report.md", "report.html", "claims.json", "results.md"):
        assert (out / name).is_file(), name
    # results.md (docs/results.md's source) is report.md without its figures
    results = (out / "results.md").read_text()
    assert "do not edit it by hand" in results and "](figures/" not in results
    assert "## Verdicts" in results and "](figures/" in built["md"]
    printed = built["stdout"].split()
    assert str(out / "report.md") in printed and str(out / "report.html") in printed
    for fig in ("decision_boundaries", "routing_maps", "training_curves", "accuracy_vs_noise"):
        assert any(fig in p.name for p in (out / "figures").iterdir()), fig
        assert re.search(rf"\(figures/R\d-{fig}\.png\)", built["md"]), fig


def test_claims_table_has_every_claim_and_only_known_verdicts(built):
    rows = _claims_rows(built["md"])
    assert [r[0] for r in rows] == [c.id for c in CLAIMS]  # one verdict per claim
    assert all(len(r) == 5 for r in rows)
    assert all(r[3].split(" (")[0] in CATEGORIES for r in rows), {r[3] for r in rows}
    assert {c["id"] for c in built["claims"]} == {c.id for c in CLAIMS}
    assert all(c["verdict"] in CATEGORIES for c in built["claims"])
    # the report opens with the counts per category, then the scorecard
    assert re.search(r"\d+ claims of the paper, \d+ counted: \d+ reproduced, ", built["md"])
    assert built["md"].index("figures/scorecard.png") < built["md"].index("| id | claim |")
    for claim in CLAIMS:  # also in the HTML, in the claims table
        assert f"<td>{claim.id}</td>" in built["html"], claim.id


def test_unmeasured_claims_say_which_run_is_missing(built):
    by_id: dict[str, list[dict]] = {}
    for c in built["claims"]:
        by_id.setdefault(c["id"], []).append(c)
    for cid in ("mnist.quantum", "mnist.classical"):
        (row,) = by_id[cid]
        assert row["verdict"] == NOT_MEASURED and "no efficiency run on mnist" in row["reason"]
    (missing_level,) = by_id["table2.eps=0.005"]
    assert missing_level["verdict"] == NOT_MEASURED and "levels" in missing_level["reason"]
    # measured claims carry the run that measured them and a number
    (measured,) = by_id["table2.eps=0"]
    assert measured["source"].startswith("R2") and measured["value"] is not None
    # 2 seeds of 2 epochs judge nothing: the reason names the budget
    assert measured["verdict"] == NOT_MEASURED and "at least 5" in measured["reason"]
    (accuracy,) = by_id["table1.B.accuracy"]
    assert accuracy["verdict"] == NOT_MEASURED and "at least 5" in accuracy["reason"]
    # the paper's eta column cannot come from its formula: inconsistent whatever we measure
    (eta,) = [v for v in built["verdicts"] if v["id"] == "table1.B.eta"]
    assert eta["verdict"] == INCONSISTENT and "log base" in eta["reason"]
    assert "does not follow from this formula with any log base" in built["md"]
    # the skipped efficiency run shows its reason
    assert f"Skipped: {SKIP_REASON}" in built["md"] and "no data loaded" in built["md"]


def test_table_i_and_table_ii_show_measured_and_paper_values(built):
    md = built["md"]
    assert "### Table I: Two Moons ablation (R1)" in md
    assert "| A: linear router | linear |" in md and "| 2.79 | 0.253 |" in md
    assert "### Table II: accuracy under depolarizing noise (R2, evaluate mode)" in md
    assert re.search(r"^\| 0\.02 \| .* \| 82 % \| 65 % \|$", md, re.M)
    # provenance: package versions, git revision, command lines, seeds, data sources
    assert "| torch |" in md and "git revision" in md and "| command |" in md
    assert "make_moons(n_samples=120" in md and "| 0, 1 |" in md


class StrictHTML(HTMLParser):
    """Every non-void element closed in order; collects src/href attributes."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr", "col", "area"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[tuple[str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data"):
                self.urls.append((name, value or ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_well_formed(built):
    text = built["html"]
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
    assert "http://" not in text and "https://" not in text
    assert "script" not in parser.tags and "link" not in parser.tags
    images = [value for name, value in parser.urls if name == "src"]
    assert not [u for name, u in parser.urls if name != "src"]
    assert len(images) == len(list((built["out"] / "figures").iterdir())) >= 4
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'class="not-measured"' in text and 'class="inconsistent-within-the-paper"' in text


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed")
def test_html_opens_in_headless_chromium(built, tmp_path):
    page = built["out"] / "report.html"
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Paper claims vs measured" in proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console


def test_report_reads_an_efficiency_run_with_points(built, tmp_path):
    png = built["ablation"] / "training_curves.png"
    mnist = _efficiency_folder(
        tmp_path,
        "mnist-efficiency",
        "mnist",
        points=(
            _point("q32", "quantum", 32, 0.965, 0.004, n=5, pareto=True),
            _point("q8", "quantum", 8, 0.90, 0.02, n=5, pareto=True),
            _point("m128", "mlp", 128, 0.90, 0.01, n=5),
            _point("m16", "mlp", 16, 0.80, 0.02, n=5),
        ),
        reaching={"0.9": {"quantum": "q8", "mlp": None}, "0.85": {"quantum": "q8", "mlp": "m128"}},
    )
    shutil.copyfile(png, mnist / "accuracy_vs_params.png")
    out = tmp_path / "out"
    result = _invoke("report", mnist, built["ablation"], "--out", out)
    assert result.exit_code == 0, result.output
    claims = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    assert claims["mnist.quantum"]["verdict"] == REPRODUCED
    assert claims["mnist.quantum"]["source"].startswith("R1 variant q32")
    assert claims["mnist.classical"]["verdict"] == NOT_REPRODUCED
    assert "the paper overstates" in claims["mnist.classical"]["reason"]
    # eta ratio on MNIST: matched at the highest threshold both reach (0.85: q8 vs m128)
    assert "mnist" in claims["eta.ratio"]["measured"]
    assert "P = 8 vs 128" in claims["eta.ratio"]["measured"]
    md = (out / "report.md").read_text()
    assert "### Parameter efficiency on mnist (R1)" in md
    assert "| q32 | quantum | 32 | n/a | 50 |" in md and "| m128 (P = 128) |" in md
    assert "figures/R1-accuracy_vs_params.png" in md


def test_default_output_is_a_complete_timestamped_report_folder(built, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("report", built["skipped"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "runs").iterdir()]
    assert re.fullmatch(r"\d{8}-\d{6}-report", folder.name) and is_complete_run(folder)
    for name in ("report.md", "report.html", "env.json", "config.yaml"):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["command"] == "report" and len(metrics["claims"]) >= len(CLAIMS)
    assert str(Path("runs") / folder.name / "report.html") in result.output


@pytest.mark.parametrize("case", ["missing", "unfinished", "failed", "no-metrics", "wrong-kind"])
def test_a_bad_run_folder_is_one_error_line_naming_it(built, tmp_path, case):
    bad = {
        "missing": tmp_path / "nope",
        "unfinished": tmp_path / ".20260101-000000-x-1234.tmp",
        "failed": tmp_path / "20260101-000000-x-1234.failed",
        "no-metrics": tmp_path / "20260101-000000-x-1234",
        "wrong-kind": tmp_path / "levels" / "eps=0",
    }[case]
    if case != "missing":
        bad.mkdir(parents=True)
    if case in ("unfinished", "failed", "wrong-kind"):
        (bad / "metrics.json").write_text(json.dumps({"command": "noise-sweep/evaluate"}))
    out = tmp_path / "out"
    result = _invoke("report", built["ablation"], bad, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0], lines
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("where", ["metrics.json", "variants/A/metrics.json"])
def test_a_metrics_json_that_does_not_validate_is_one_error_line_naming_file_and_key(
    built, tmp_path, where
):
    bad = tmp_path / built["ablation"].name
    shutil.copytree(built["ablation"], bad)
    metrics = json.loads((bad / where).read_text())
    if where == "metrics.json":
        del metrics["summary"][0]["test_acc_mean"]
        key = "summary.0.test_acc_mean: required key is missing"
    else:
        metrics["per_seed"][1]["seed"] = "one"
        key = "per_seed.1.seed: "
    (bad / where).write_text(json.dumps(metrics))
    out = tmp_path / "out"
    result = _invoke("report", bad, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad / where}: {key}"), lines
    assert "Traceback" not in result.output and not out.exists()


def test_an_old_folders_config_that_no_longer_validates_is_named_and_not_used(built, tmp_path):
    old = tmp_path / built["ablation"].name
    shutil.copytree(built["ablation"], old)
    config = yaml.safe_load((old / "config.yaml").read_text())
    config["train"]["retired"] = 1  # a key this qmoe no longer knows
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    env = json.loads((old / "env.json").read_text())
    del env["host"], env["git"]  # an env.json of an older qmoe
    (old / "env.json").write_text(json.dumps({**env, "later_key": True}))
    out = tmp_path / "out"
    result = _invoke("report", old, "--out", out)
    assert result.exit_code == 0, result.output
    md = (out / "report.md").read_text()
    assert "- R1: config.yaml: train.retired: unknown key" in md
    assert "config not readable: the report uses none of its settings" in md
    assert "### Table I: Two Moons ablation (R1)" in md  # the data set from metrics.json
    row = [line for line in md.splitlines() if line.startswith("| R1 | ablate | ")][-1]  # env
    assert "| not a git checkout | " in row and row.count("| ? |") == 1  # no host recorded


def test_claims_data_structure():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids))
    for c in CLAIMS:
        assert c.text and c.paper_text and c.run_kind and c.rule and c.where, c.id
        assert callable(c.measure)
        assert c.unit in ("accuracy", "params", "eta", "epochs", "eps", "ratio", "points")
    expected = {
        "table1.A.accuracy": 0.65,
        "table1.A.params": 12,
        "table1.A.eta": 2.79,
        "table1.C.accuracy": 0.93,
        "table1.C.params": 240,
        "table1.C.eta": 3.82,
        "table1.B.accuracy": 0.94,
        "table1.B.params": 24,
        "table1.B.eta": 7.14,
        "mnist.quantum": 0.965,
        "mnist.classical": 0.958,
        "eta.ratio": (1.5, 2.5),
        "table2.eps=0": 0.94,
        "table2.eps=0.005": 0.92,
        "table2.eps=0.01": 0.89,
        "table2.eps=0.02": 0.82,
        "table2.eps=0.03": 0.73,
        "table2.classical": 0.65,
        "noise.advantage": 0.02,
        "noise.breakdown": 0.025,
        "convergence.quantum": 20,
        "convergence.deep_classical": 50,
        "fq.accuracy": 0.0,  # Sec. VI-E against the fully quantum QMoE: "comparable"
        "fq.qubits": 0.6,  # "40 % fewer qubits": hybrid / fully quantum
        "fq.noise": 0.0,  # "better noise resilience": the slope difference above 0
        "hardware.nisq": 0.0,  # "NISQ feasibility": on a device, above the classical baseline
    }
    single = {
        c.id: c.paper for c in CLAIMS if not c.id.startswith(("cmp.", "eta.quantum", "mech."))
    }
    assert {k: v for k, v in single.items() if k != "convergence.faster"} == expected
    comparative = {c.id for c in CLAIMS if c.compare is not None}
    assert comparative == {
        "cmp.quantum_vs_linear",
        "cmp.quantum_vs_deep",
        "eta.quantum_vs_linear",
        "eta.quantum_vs_deep",
        "mech.coherence",
        "mech.entanglement",
        "mech.classical_spectrum",
        "mech.layerwise",
        "mech.layerwise_convergence",
        "convergence.faster",
    }
    # the mechanism claims judged on `qmoe diagnose` folders, not by a paired comparison
    diagnosed = {c.id for c in CLAIMS if c.id.startswith("mech.") and c.compare is None}
    assert diagnosed == {"mech.kernel", "mech.barren"}
    # the experiments know no paper: only the report puts its numbers beside ours
    from qmoe_cli.experiments import noise_sweep

    assert not hasattr(noise_sweep, "PAPER_TABLE_II")
    assert PAPER_TABLE_II[0.03] == 0.73 and PAPER_CLASSICAL == 0.65


# --- sweep folders (`qmoe sweep`) ------------------------------------------------------------


@pytest.fixture
def tiny_sweep(tmp_path, cli):
    """A two-point train sweep over the experts count, written by `qmoe sweep`."""
    from .conftest import TINY

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    sweep = {
        "kind": "sweep",
        "name": "s",
        "base": "base.yaml",
        "command": "train",
        "seeds": [0],
        "grid": {"model.experts.count": [2, 3]},
    }
    (tmp_path / "s.yaml").write_text(json.dumps(sweep))
    result = cli("sweep", tmp_path / "s.yaml", "--out", tmp_path / "sweeps", "--jobs", "1")
    assert result.exit_code == 0, result.output
    return tmp_path / "sweeps" / "s"


def test_report_reads_a_sweep_folder(tiny_sweep, tmp_path, cli):
    point = next(p for p in sorted((tiny_sweep / "points").iterdir()) if is_complete_run(p))
    (tiny_sweep / "status" / "0123456789ab.json").write_text(
        json.dumps({"state": "failed", "error": "RuntimeError: boom\ntraceback line"})
    )
    out = tmp_path / "rep"
    result = cli("report", tiny_sweep, point, "--out", out)
    assert result.exit_code == 0, result.output
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    runs_row = rf"^\| R1 \| sweep \| two_moons \| 0 \| {re.escape(str(tiny_sweep))} \|$"
    assert re.search(runs_row, md, re.M)
    # the section: name, command, base, grid, seeds, states, and one row per point
    assert "## Sweeps" in md and "### Sweep s (R1)" in md
    assert "`train` runs of the base config " in md
    assert "base.yaml, grid model.experts.count = 2, 3" in md  # the base path as resolved
    assert "seeds 0; dataset two_moons." in md
    assert "Points x seeds: 2 done, 1 failed, 0 unfinished" in md and "of 2 the sweep" in md
    assert "- failed 0123456789ab: RuntimeError: boom" in md and "traceback line" not in md
    assert "Sweeps do not feed the paper claims table" in md
    header = "| model.experts.count | router P | n seeds | test accuracy mean ± std | 95 % CI |"
    assert header in md
    for count in (2, 3):
        assert re.search(rf"^\| {count} \| \d+ \| 1 \| \d+\.\d % \| n/a \|$", md, re.M), count
        row = rf"<tr><td>{count}</td><td>\d+</td><td>1</td><td>\d+\.\d %</td><td>n/a</td></tr>"
        assert re.search(row, html), count
    assert "<h2>Sweeps</h2>" in html and "<h3>Sweep s (R1)</h3>" in html
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    assert not parser.errors and not parser.stack
    # provenance: the points' env.json, compactly; the sweep file itself
    assert re.search(r"^\| R1 \| sweep \| .* \| 0 \| sklearn.datasets.make_moons\(", md, re.M)
    assert "R1 sweep.yaml (s):" in md and "| torch |" in md
    # the claims come from the point given directly (R2), never from the sweep
    findings = json.loads((out / "claims.json").read_text())["claims"]
    assert any(f["source"].startswith("R2") for f in findings)
    assert not any(f["source"].startswith("R1") for f in findings)


def test_a_folder_that_is_no_run_and_no_sweep_is_one_error_line(tiny_sweep, tmp_path, cli):
    def error(bad):
        result = cli("report", bad, "--out", tmp_path / "out")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert f"neither a complete run folder nor a sweep folder: {bad} (" in lines[0]
        assert "Traceback" not in result.output and not (tmp_path / "out").exists()
        return lines[0]

    # the folder above the sweeps is searched: the sweep folder in it is read
    result = cli("report", tiny_sweep.parent, "--out", tmp_path / "found")
    assert result.exit_code == 0, result.output
    assert "### Sweep s (R1)" in (tmp_path / "found" / "report.md").read_text()
    (tiny_sweep / "summary.csv").unlink()  # as if the sweep had been killed before aggregating
    assert "a sweep folder without summary.csv" in error(tiny_sweep)
    # found under a folder, it is skipped; with nothing else there, that is the error
    assert "1 skipped: s)" in error(tiny_sweep.parent)
