"""`qmoe tune`: bad search spaces refused before training, the test split never read by a
trial, studies resumed and shared with exactly the budget of trials, equal budgets."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from qmoe_cli.config import TuneConfig
from qmoe_cli.data import load_dataset
from qmoe_cli.training import trials

from .conftest import ROOT, run_qmoe

BASE = {
    "kind": "ablate",
    "data": {"name": "two_moons", "n_samples": 120, "noise": 0.1},
    "model": {"experts": {"count": 2}},
    "train": {"epochs": 3, "batch_size": 16, "patience": 2},
    "reference": "A",
    "variants": {
        "A": {"router": {"type": "linear"}},
        "C": {"router": {"type": "mlp", "hidden": [4]}},
    },
}
TUNE = {
    "kind": "tune",
    "name": "tiny",
    "base": BASE,
    "space": {"train.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
    "variant_space": {
        "A": {"data.scaling": {"type": "categorical", "choices": ["minmax_pi", "standard"]}}
    },
    "trials": 3,
    "trial_seeds": [7, 8],
    "seeds": [0],
}


def _write(tmp_path, cfg, name="tune.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _complete(folder, variant):
    """Numbers and owners of a variant's COMPLETE trials in the folder's study."""
    import optuna

    from qmoe_cli.experiments.tune import open_storage

    storage = open_storage(f"sqlite:///{folder / 'study.db'}")  # under the study's lock
    study = optuna.load_study(study_name=f"tiny.{variant}", storage=storage)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    return [t.number for t in done], [t.user_attrs["owner"]["pid"] for t in done], study


# --- bad input: one line naming the key, exit 2, nothing trained -----------------------------


def _space(**param):
    return {**TUNE, "space": {"train.lr": param}}


BAD = [
    (
        {**TUNE, "space": {"train.lrr": {"type": "float", "low": 0.1, "high": 1}}},
        "space.train.lrr: not a key of variant A's config",
    ),
    (_space(type="float", low=0.1, high=0.01), "space.train.lr: low 0.1 is not below high 0.01"),
    (_space(type="float", low=0.1, high=0.1), "the range is empty"),
    (_space(type="int", low=5, high=2), "the range is inverted"),
    (_space(type="float", low=0.0, high=0.1, log=True), "space.train.lr: log: a log range"),
    (_space(type="float", low=-1, high=0.1, log=True), "space.train.lr: log: a log range"),
    (
        _space(type="categorical", choices=[0.1, 0.2, 0.1]),
        "space.train.lr: choices: 0.1 is given twice",
    ),
    (_space(type="float", low=0.001, high=100), "space.train.lr: 100 is no valid value"),
    ({**TUNE, "trials": 0}, "trials: Input should be greater than or equal to 1"),
    ({**TUNE, "variant_trials": {"A": 0}}, "variant_trials.A"),
    ({**TUNE, "variant_trials": {"Z": 2}}, "variant_trials.Z: not a variant of base"),
    (
        {
            **TUNE,
            "variant_space": {"C": {"model.router.qubits": {"type": "int", "low": 1, "high": 2}}},
        },
        "variant_space.C.model.router.qubits: not a key of variant C's config",
    ),
    ({**TUNE, "space": {"seeds": {"type": "categorical", "choices": [[1]]}}}, "space.seeds"),
    ({**TUNE, "variants": ["A", "Z"]}, "variants.1: 'Z' is not a variant of base (A, C)"),
    ({**TUNE, "variants": ["A", "A"]}, "variants.1: 'A' is given twice"),
    ({**TUNE, "variants": ["C"]}, "variants: base's reference 'A' is not among them"),
    ({**TUNE, "variants": []}, "variants: give at least one"),
]


@pytest.mark.parametrize("cfg,message", BAD, ids=[m for _, m in BAD])
def test_bad_search_space_is_one_line_naming_the_key(tmp_path, cli, cfg, message):
    path = _write(tmp_path, cfg)
    for command in (("tune", path, "--out", tmp_path / "out"), ("validate", path)):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: ") and message in line, line
    assert not (tmp_path / "out").exists()  # before any training


def test_a_storage_that_cannot_be_opened_is_named(tmp_path, cli):
    path = _write(tmp_path, TUNE)
    for url in ("sqlite:////nonexistent-dir/x.db", "nosuchdb://x", "journal:"):
        result = cli("tune", path, "--out", tmp_path / "out", "--storage", url)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"error: --storage {url}: cannot open"), line
    assert not list((tmp_path / "out").rglob("trials.csv"))


def test_base_path_is_relative_to_the_tune_file(tmp_path, cli):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = _write(tmp_path / "sub", {**TUNE, "base": "base.yaml"})
    result = cli("validate", path, "--set", "base.train.epochs=2")
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output.split("# ")[0])
    assert cfg["base"]["train"]["epochs"] == 2 and cfg["base"]["kind"] == "ablate"


# --- the test split ---------------------------------------------------------------------------


def test_a_trial_never_reads_the_test_split(monkeypatch):
    cfg = TuneConfig.model_validate(TUNE).trial_config("C", {"train.lr": 0.05})
    clean = trials.score_trial(cfg, "val_accuracy")

    def poisoned(data, seed):  # test rows NaN, test labels flipped: any use would show
        splits = load_dataset(data, seed)
        splits.X_test = np.full_like(splits.X_test, np.nan)
        splits.y_test = 1 - splits.y_test
        return splits

    monkeypatch.setattr(trials, "load_dataset", poisoned)
    assert trials.score_trial(cfg, "val_accuracy") == clean
    assert set(clean) == {"value", "per_seed", "epochs_run", "diverged"}  # no test number
    withheld = trials.without_test(load_dataset(cfg.data, 0))
    for use in (len, np.asarray, lambda a: a[0], lambda a: a.shape):
        with pytest.raises(trials.TestSplitWithheld):
            use(withheld.X_test)


# --- resume, sharing, budgets (the real command in subprocesses) -------------------------------


def _slower(tmp_path, n_trials, name="tune.yaml", **more):
    base = {**BASE, "data": {**BASE["data"], "n_samples": 300}, "train": {"epochs": 25}}
    return _write(tmp_path, {**TUNE, "base": base, "trials": n_trials, **more}, name)


@pytest.mark.slow
def test_sigterm_then_rerun_ends_with_exactly_the_budget(tmp_path):
    path = _slower(tmp_path, 6)
    out = tmp_path / "out"
    env = dict(os.environ, COLUMNS="200")
    cmd = [sys.executable, "-m", "qmoe_cli.cli", "tune", str(path), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = out / "tiny" / "study.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # stop it in the middle of the search
        with contextlib.suppress(KeyError):  # the study is created by the process
            if db.exists() and len(_complete(out / "tiny", "A")[0]) >= 2:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - start < 2.5
    assert proc.returncode != 0 and b"continue the study" in stderr, stderr
    assert not (out / "tiny" / "final").exists() or not any((out / "tiny" / "final").iterdir())
    result = run_qmoe("tune", path, "--out", out)
    assert result.returncode == 0, result.stderr
    for variant in ("A", "C"):
        numbers, _, study = _complete(out / "tiny", variant)
        assert len(numbers) == 6
        failed = [t for t in study.trials if t.state.name == "FAIL"]
        retried = {t.user_attrs.get("retry_of") for t in study.trials} - {None}
        assert retried == {t.number for t in failed}  # every interrupted trial tried again
    tuned = json.loads((out / "tiny" / "tuned.json").read_text())
    assert tuned["budget"] == {"A": 6, "C": 6} and tuned["equal_budget"] is True


def test_the_claim_lock_is_not_a_lock_file_optuna_uses(tmp_path):
    """Optuna's journal backend locks with FILE.lock and deletes a FILE.lock it finds
    there for 30 s: a claim lock of that name let two SLURM tasks claim at once."""
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    from qmoe_cli.experiments import tune

    journal = tmp_path / "study.journal"
    ours = tune.lock_of(f"journal:{journal}")
    for lock in (JournalFileSymlinkLock(str(journal)), JournalFileOpenLock(str(journal))):
        assert ours is not None and str(ours) != lock._lock_file
    assert tune.lock_of(f"sqlite:///{tmp_path / 'study.db'}").parent == tmp_path


@pytest.mark.parametrize("after_read", [0, 1, 2, 3])
def test_a_trial_told_complete_during_a_claim_is_counted_once(tmp_path, after_read):
    """Another process tells its trial complete while this one counts (tell is not under
    the claim lock), after any of the claim's reads: counted state by state, the trial was
    in neither count and one trial too many was claimed (CI: 7 complete of a budget of 6)."""
    from qmoe_cli.experiments import tune

    cfg = TuneConfig.model_validate({**TUNE, "trials": 2})
    folder = tmp_path / "out" / "tiny"
    folder.mkdir(parents=True)
    search = tune._searches(cfg, tune.storage_url(cfg, folder), folder)["A"]
    (other,) = search.claim()  # another process's trial, running
    reads = search.study.get_trials
    seen = []

    def read_then_other_tells(*args, **kwargs):
        trials = reads(*args, **kwargs)
        seen.append(len(seen))
        if len(seen) == after_read + 1:
            search.study.tell(other, 0.5)
        return trials

    search.study.get_trials = read_then_other_tells
    claimed = search.claim(5)
    search.study.get_trials = reads
    assert len(claimed) == 1  # the budget's one other trial, not two
    assert len(search.trials()) == 2


def test_a_trial_of_a_killed_process_is_failed_and_retried(tmp_path):
    import optuna

    from qmoe_cli.experiments import tune

    cfg = TuneConfig.model_validate({**TUNE, "trials": 2})
    folder = tmp_path / "out" / "tiny"
    folder.mkdir(parents=True)
    searches = tune._searches(cfg, tune.storage_url(cfg, folder), folder)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (trial,) = searches["A"].claim()  # claimed, then its process "dies"
    trial.set_user_attr("owner", {**tune._owner(), "pid": dead.pid})
    lost = dict(trial.params)
    tune.run(cfg, tmp_path / "out", jobs=1)
    numbers, _, study = _complete(folder, "A")
    assert len(numbers) == 2
    (failed,) = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == failed.number]
    assert retry.state.name == "COMPLETE" and retry.params == lost


@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path):
    path = _slower(tmp_path, 6)
    out = tmp_path / "out"
    env = dict(os.environ, COLUMNS="200")
    cmd = [sys.executable, "-m", "qmoe_cli.cli", "tune", str(path), "--out", str(out)]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    owners = set()
    for variant in ("A", "C"):
        numbers, pids, study = _complete(out / "tiny", variant)
        assert len(numbers) == len(set(numbers)) == 6  # exactly the budget, none twice
        assert not [t for t in study.trials if t.state.name != "COMPLETE"]
        owners |= set(pids)
    assert owners == {p.pid for p in procs}  # both processes ran trials
    finals = list((out / "tiny" / "final").iterdir())
    assert len(finals) == 1  # one final run; the other process found it done
    assert sum(b"final run already done" in o for o, _ in outputs) == 1


def test_equal_budgets_unless_configured_and_recorded(tmp_path, cli):
    out = tmp_path / "out"
    result = cli("tune", _write(tmp_path, TUNE), "--out", out)
    assert result.exit_code == 0, result.output
    tuned = json.loads((out / "tiny" / "tuned.json").read_text())
    assert tuned["budget"] == {"A": 3, "C": 3} and tuned["equal_budget"] is True
    assert {v["trials_complete"] for v in tuned["variants"].values()} == {3}
    (final,) = (out / "tiny" / "final").iterdir()
    assert json.loads((final / "tuned.json").read_text()) == tuned
    ablation = yaml.safe_load((final / "config.yaml").read_text())
    for name in ("A", "C"):  # the final run used each variant's best settings
        assert ablation["variants"][name]["overrides"] == tuned["variants"][name]["settings"]
        variant = yaml.safe_load((final / "variants" / name / "config.yaml").read_text())
        assert variant["train"]["lr"] == tuned["variants"][name]["settings"]["train.lr"]
    assert "data.scaling" in tuned["variants"]["A"]["settings"]
    assert "data.scaling" not in tuned["variants"]["C"]["settings"]

    uneven = _write(tmp_path, {**TUNE, "name": "tiny", "variant_trials": {"C": 4}}, "u.yaml")
    result = cli("tune", uneven, "--out", tmp_path / "out2")
    assert result.exit_code == 0, result.output
    tuned = json.loads((tmp_path / "out2" / "tiny" / "tuned.json").read_text())
    assert tuned["budget"] == {"A": 3, "C": 4} and tuned["equal_budget"] is False
    assert [v["trials_complete"] for v in tuned["variants"].values()] == [3, 4]
    result = cli("tune", uneven, "--out", tmp_path / "out2", "--status")
    assert result.exit_code == 0 and "3/3" in result.output and "4/4" in result.output


# --- trials asked in batches, trained as one stack ----------------------------------------------


def test_a_batch_of_trials_trained_as_one_stack_gives_the_values_of_one_at_a_time(
    tmp_path, monkeypatch
):
    from qmoe_cli.experiments import tune
    from qmoe_cli.training import stacked

    space = {
        "train.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
        "train.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    }
    raw = {**TUNE, "space": space, "trials": 6, "trial_batch": 3, "objective": "val_loss"}
    cfg = TuneConfig.model_validate(raw)
    sizes = []
    real = stacked.fit_stacked
    monkeypatch.setattr(
        stacked,
        "fit_stacked",
        lambda models, *a, **k: sizes.append(len(models)) or real(models, *a, **k),
    )
    studies = {}
    for stack in (True, False):
        folder = tmp_path / str(stack)
        folder.mkdir()
        searches = tune._searches(cfg, tune.storage_url(cfg, folder), folder)
        tune.pull_trials(searches, cfg.trial_batch, lambda: None, stack=stack)
        studies[stack] = {v: s.trials() for v, s in searches.items()}
        if stack:  # C's three lr/weight-decay trials x two seeds: one stack of 6 models
            assert 6 in sizes
            sizes.clear()
    assert max(sizes) == 2  # one at a time: a trial's two seeds
    for variant in ("A", "C"):
        together, alone = studies[True][variant], studies[False][variant]
        assert [t.params for t in together] == [t.params for t in alone]  # the same trials
        assert len(together) == 6
        for a, b in zip(together, alone, strict=True):
            assert a.value == pytest.approx(b.value, abs=1e-6, rel=0)
            assert a.user_attrs["per_seed"] == pytest.approx(b.user_attrs["per_seed"], abs=1e-6)
        best = min(t.value for t in together), min(t.value for t in alone)
        assert best[0] == pytest.approx(best[1], abs=1e-6, rel=0)


def test_a_diverging_trial_in_a_stack_does_not_take_the_others_with_it(monkeypatch):
    from qmoe_cli.errors import TrainingError
    from qmoe_cli.training import stacked

    real, calls = stacked.fit_stacked, []

    def diverges_at_lr_7(models, model_cfg, splits, train, seeds, *rest):
        lrs = [t.lr for t in train] if isinstance(train, list) else [train.lr]
        calls.append(lrs)
        if 7.0 in lrs:  # as the stacked engine fails when one model's loss is NaN
            raise TrainingError("loss became nan at epoch 1, batch 1")
        return real(models, model_cfg, splits, train, seeds, *rest)

    monkeypatch.setattr(stacked, "fit_stacked", diverges_at_lr_7)
    cfg = TuneConfig.model_validate(TUNE)
    configs = [cfg.trial_config("C", {"train.lr": lr}) for lr in (0.05, 7.0, 0.01)]
    together = trials.score_trials(configs, "val_accuracy")
    assert calls[0] == [0.05, 0.05, 7.0, 7.0, 0.01, 0.01]  # first tried as one stack
    assert together == [trials.score_trial(c, "val_accuracy") for c in configs]
    assert together[1]["diverged"] and together[1]["value"] == 0.0
    assert not together[0]["diverged"] and not together[2]["diverged"]


# --- figures and the best settings beside the fixed protocol's ---------------------------------


def test_figures_and_the_best_settings_beside_the_fixed_protocol(tmp_path, cli):
    import matplotlib.image

    out = tmp_path / "out"
    result = cli("tune", _write(tmp_path, {**TUNE, "trials": 4}), "--out", out)
    assert result.exit_code == 0, result.output
    folder = out / "tiny"
    tuned = json.loads((folder / "tuned.json").read_text())
    for name in ("A", "C"):
        for kind in ("history", "importance"):
            png = folder / "figures" / f"{kind}_{name}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            height, width, _ = matplotlib.image.imread(png).shape  # a PNG that decodes
            assert height > 100 and width > 100
        variant = tuned["variants"][name]
        assert variant["fixed"]["train.lr"] == BASE["train"].get("lr", 0.01)  # the base's
        shares = variant["importances"]
        assert set(shares) <= set(variant["space"]) and abs(sum(shares.values()) - 1) < 1e-6
    assert tuned["variants"]["A"]["fixed"]["data.scaling"] == "minmax_pi"
    table = (folder / "best.md").read_text()
    assert "| variant | key | fixed protocol | tuned | importance |" in table
    lr = tuned["variants"]["C"]["settings"]["train.lr"]
    assert f"| C | `train.lr` | 0.01 | {lr:.4g} |" in table
    assert "| A | `data.scaling` | minmax_pi |" in table
    # the same trials give the same importances (seeded fANOVA): rerun writes them again
    first = {n: v["importances"] for n, v in tuned["variants"].items()}
    assert cli("tune", tmp_path / "tune.yaml", "--out", out).exit_code == 0
    again = json.loads((folder / "tuned.json").read_text())
    assert {n: v["importances"] for n, v in again["variants"].items()} == first


# --- the pruner on validation curves -----------------------------------------------------------


def _pruned_study(tmp_path, pruner):
    """Variant C alone, 8 trials of 8 epochs, learning rates down to the absurd 1e-7."""
    from qmoe_cli.experiments import tune

    base = {**BASE, "reference": "C", "train": {**BASE["train"], "epochs": 8, "patience": 8}}
    raw = {
        **TUNE,
        "base": base,
        "variants": ["C"],
        "variant_space": {},
        "space": {"train.lr": {"type": "float", "low": 1e-7, "high": 0.3, "log": True}},
        "trials": 8,
        "objective": "val_loss",
        "pruner": pruner,
        "pruner_startup_trials": 2,
        "pruner_warmup_epochs": 1,
    }
    cfg = TuneConfig.model_validate(raw)
    searches = tune._searches(cfg, tune.storage_url(cfg, tmp_path), tmp_path)
    tune.pull_trials(searches, cfg.trial_batch, lambda: None)
    return cfg, searches, tune.write_search(cfg, tmp_path, searches, "here")


def test_the_median_pruner_prunes_a_bad_trial_and_keeps_the_budget(tmp_path):
    import optuna

    states = optuna.trial.TrialState
    cfg, searches, tuned = _pruned_study(tmp_path, "median")
    search = searches["C"]
    pruned = search.trials(states.PRUNED)
    complete = search.trials(states.COMPLETE)
    assert pruned, [(t.params, t.value) for t in search.trials()]
    assert len(pruned) + len(complete) == 8 == len(search.trials())  # exactly the budget
    for trial in pruned:  # stopped before its last epoch, on its curve's values
        assert max(trial.intermediate_values) < 8  # warmup 1: from its first epoch
        assert "pruned at epoch" in trial.user_attrs["pruned"]
    variant = tuned["variants"]["C"]
    assert variant["trials_pruned"] == len(pruned)
    assert variant["trials_complete"] == len(complete)
    assert variant["best_trial"] in {t.number for t in complete}
    assert "pruned" in tuned["budget_counts"] and tuned["pruner"].startswith("MedianPruner")
    # a complete trial's last reported value is its value (the curve ends at the kept epoch)
    for trial in complete:
        curve = trial.intermediate_values
        assert curve[max(curve)] == pytest.approx(trial.value, abs=1e-12)


def test_no_pruner_never_prunes(tmp_path):
    import optuna

    _, searches, tuned = _pruned_study(tmp_path, "none")
    trials_ = searches["C"].trials()
    assert [t.state for t in trials_] == [optuna.trial.TrialState.COMPLETE] * 8
    assert all(not t.intermediate_values for t in trials_)
    assert tuned["pruner"] == "none" and tuned["variants"]["C"]["trials_pruned"] == 0


def test_the_curve_is_the_same_stacked_or_seed_after_seed():
    cfg = TuneConfig.model_validate(TUNE).trial_config("C", {"train.lr": 0.05})
    curves = []
    for engine in ("stacked", "sequential"):
        one = cfg.model_copy(update={"train": cfg.train.model_copy(update={"engine": engine})})
        seen = []
        result = trials.score_trial(one, "val_loss", lambda e, v, seen=seen: seen.append((e, v)))
        assert [e for e, _ in seen] == list(range(1, len(seen) + 1))
        assert seen[-1][1] == pytest.approx(result["value"], abs=1e-12)
        curves.append(seen)
    assert [e for e, _ in curves[0]] == [e for e, _ in curves[1]]
    assert [v for _, v in curves[0]] == pytest.approx([v for _, v in curves[1]], abs=1e-9)


def test_a_pruner_with_stacked_trial_batches_is_refused(tmp_path, cli):
    result = cli("tune", _write(tmp_path, {**TUNE, "pruner": "median", "trial_batch": 2}))
    assert result.exit_code == 2
    assert "pruner: median needs trial_batch 1 (got 2)" in result.output


# --- quantum layouts within a parameter budget -------------------------------------------------

QUANTUM = {
    **BASE,
    "model": {"experts": {"count": 4}},
    "variants": {
        "A": {"router": {"type": "linear"}},
        "B": {"router": {"type": "quantum"}},
        "S": {"router": {"type": "quantum", "ansatz": "strongly_entangling"}},
    },
}
LAYOUT = {"model.router.layout": {"type": "layout", "params": 24}}


def _layouts(**more):
    space = {"B": LAYOUT, "S": LAYOUT}
    return {**TUNE, "base": QUANTUM, "variant_space": space, "trials": 2, **more}


def test_layouts_with_a_parameter_budget_are_enumerated_per_ansatz():
    cfg = TuneConfig.model_validate(_layouts())
    # ry_cz: P = L n; one qubit cannot hold 4 experts (probs readout); 12 x 2 is above 10 qubits
    assert cfg.space_of("B")["model.router.layout"].choices == [
        [2, 12],
        [3, 8],
        [4, 6],
        [6, 4],
        [8, 3],
    ]
    assert cfg.space_of("S")["model.router.layout"].choices == [[2, 4], [4, 2], [8, 1]]
    wide = {"B": {"model.router.layout": {**LAYOUT["model.router.layout"], "max_qubits": 12}}}
    cfg = TuneConfig.model_validate(_layouts(variant_space=wide))
    assert cfg.space_of("B")["model.router.layout"].choices[-1] == [12, 2]
    assert "model.router.layout" not in cfg.space_of("A")


def test_a_trial_applies_the_layout_as_qubits_and_layers(tmp_path, monkeypatch):
    from qmoe_cli.experiments import tune

    cfg = TuneConfig.model_validate(_layouts(variants=["A", "B"], variant_space={"B": LAYOUT}))
    seen = []
    real = tune.score_trials
    monkeypatch.setattr(
        tune, "score_trials", lambda cfgs, *a, **k: seen.extend(cfgs) or real(cfgs, *a, **k)
    )
    searches = tune._searches(cfg, tune.storage_url(cfg, tmp_path), tmp_path)
    tune.pull_trials({"B": searches["B"]}, 1, lambda: None)
    done = searches["B"].trials()
    assert len(seen) == len(done) == 2
    for trial, trained in zip(done, seen, strict=True):
        qubits, layers = json.loads(trial.params["model.router.layout"])
        assert (trained.model.router.qubits, trained.model.router.layers) == (qubits, layers)
        assert qubits * layers == 24
    best = searches["B"].best()["settings"]
    final = cfg.final_config({"B": best}).variant("B").model.router
    assert [final.qubits, final.layers] == best["model.router.layout"]
    assert tune.fixed_values(cfg, "B")["model.router.layout"] == [2, 3]  # the base's


LAYOUT_BAD = [
    (
        _layouts(space={"model.router.layout": {"type": "layout", "params": 24}}),
        "space.model.router.layout: variant A's router is linear, not quantum",
    ),
    (
        _layouts(variant_space={"B": {"model.router.layout": {"type": "layout", "params": 11}}}),
        "variant_space.B.model.router.layout: no layout of at most 10 qubits has exactly 11",
    ),
    (
        _layouts(variant_space={"B": {"model.router.qubits": {"type": "layout", "params": 8}}}),
        "variant_space.B.model.router.qubits: a layout's key is model.router.layout",
    ),
    (
        _layouts(
            variant_space={"B": {"model.router.layout": {"type": "int", "low": 1, "high": 3}}}
        ),
        "variant_space.B.model.router.layout: the layout key takes type layout",
    ),
    (
        _layouts(variant_space={"B": {"model.router.layout": {"type": "layout"}}}),
        "a layout needs `params`",
    ),
]


@pytest.mark.parametrize("cfg,message", LAYOUT_BAD, ids=[m for _, m in LAYOUT_BAD])
def test_a_layout_that_cannot_apply_is_one_line_naming_the_key(tmp_path, cli, cfg, message):
    result = cli("tune", _write(tmp_path, cfg), "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()  # before anything
