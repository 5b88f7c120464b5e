"""`qmoe tune`: every variant of a base config tuned on validation with the same budget
(Optuna, one study per variant), then each variant's best settings trained on the final
seeds and tested once, as an ordinary ablation run folder.

    <out>/<name>/tune.yaml     the tune config resolved (its base inline)
    <out>/<name>/study.db      the studies, SQLite (unless `--storage` names another storage)
    <out>/<name>/trials.csv    every trial: variant, number, state, value, settings, per seed
    <out>/<name>/tuned.json    per variant: its budget, trials done, the best trial and its
                               settings, the fixed protocol's value of each key searched;
                               whether the budgets were equal (records.TunedRecord)
    <out>/<name>/final/<stamp>-<name>-<id>/   the final ablation (`qmoe ablate`'s folder, its
                               variants' `overrides` the tuned settings, tuned.json beside)

A trial samples its settings with the TPE sampler (seeded from `sampler_seed`, the variant
and the trial's number, so a study resumed gives the trials an uninterrupted one would),
trains the variant's config with them on `trial_seeds` (training/trials.py: the test split
is withheld) and reports the mean validation accuracy (or loss). Studies are shared: trials
are claimed one at a time (under a lock file beside an SQLite database), and a process only
claims a trial while finished (complete or pruned) plus running trials are fewer than the
budget, so any number of processes end with exactly the budget of finished trials per
variant. A trial left
running by a process that died (same host, process gone) or was interrupted is marked
FAILED and its settings are tried again.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from qmoe_cli import records
from qmoe_cli.config import OBJECTIVES, TuneConfig, dump_config
from qmoe_cli.config.tune import setting_of
from qmoe_cli.errors import ConfigError
from qmoe_cli.progress import err, out, progress_bar
from qmoe_cli.runs import is_complete_run, read_text, writable_dir, write_csv, write_json
from qmoe_cli.training.trials import score_trial, score_trials
from qmoe_cli.workers import raise_if_interrupted

STALE_SECONDS = 120  # a running trial without an owner this old was claimed by a dead process
POLL_SECONDS = 1.0  # waiting for other processes' trials


def tune_folder(cfg: TuneConfig, out_dir: str | Path) -> Path:
    return Path(out_dir) / cfg.name


def storage_url(cfg: TuneConfig, folder: Path) -> str:
    return cfg.storage or f"sqlite:///{(folder / 'study.db').absolute()}"


def study_name(cfg: TuneConfig, variant: str) -> str:
    return f"{cfg.name}.{variant}"


def open_storage(url: str):
    """The Optuna storage of a URL; one ConfigError naming the URL when it cannot be opened."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = url.removeprefix("journal:")
            if not path:
                raise ValueError("give a file: journal:PATH")
            storage = JournalStorage(JournalFileBackend(path))
        else:
            kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
            # two processes creating one SQLite file's schema at once collide (alembic's
            # version row): they take turns under the study's lock
            with _locked(lock_of(url)):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        storage.get_all_studies()
    except Exception as exc:  # SQLAlchemy's, a driver's, a file system's: all one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--storage {url}: cannot open the study storage ({reason})") from None
    return storage


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) and url != prefix else None


def lock_of(url: str) -> Path | None:
    """The lock file beside an SQLite study or a journal file (None for other storages)."""
    path = _sqlite_path(url)
    if path is None and url.startswith("journal:") and url != "journal:":
        path = Path(url.removeprefix("journal:"))
    if path is None or not path.parent.is_dir():
        return None
    # not FILE.lock: Optuna's journal backend locks with a FILE.lock symlink of its own, and
    # after 30 s of finding ours there it deletes it (two processes then claim at once)
    return path.with_name(path.name + ".claims.lock")


def claim_lock(url: str, folder: Path) -> Path:
    """The lock processes take turns under to claim trials: beside an SQLite or journal
    file, else (a database server) in the tuning folder, which processes sharing such a
    study share (`--out`; SLURM array tasks do)."""
    return lock_of(url) or folder / ".claims.lock"


@contextlib.contextmanager
def _locked(path: Path | None):
    """An exclusive lock on a file (None: no lock); processes on one host take turns."""
    if path is None:
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fingerprint(cfg: TuneConfig, variant: str) -> str:
    """What defines a variant's search: a study made by another search is not continued."""
    search = {
        "config": cfg.variant_config(variant).model_dump(mode="json", exclude={"seeds", "name"}),
        "space": {k: p.model_dump(mode="json") for k, p in cfg.space_of(variant).items()},
        "trial_seeds": cfg.trial_seeds,
        "objective": cfg.objective,
        "sampler_seed": cfg.sampler_seed,
    }
    if cfg.pruner != "none":  # pruned trials: another study
        search["pruner"] = [cfg.pruner, cfg.pruner_startup_trials, cfg.pruner_warmup_epochs]
    if cfg.trial_batch != 1:  # asked in batches: another sequence of trials
        search["trial_batch"] = cfg.trial_batch
    return hashlib.sha256(json.dumps(search, sort_keys=True).encode()).hexdigest()[:16]


def _sampler(cfg: TuneConfig, variant: str, n_trials: int):
    """TPE seeded by the config, the variant and how many trials the study has: the same
    sequence whether the study ran in one go or was resumed."""
    import optuna

    text = f"{cfg.sampler_seed}/{variant}/{n_trials}".encode()
    seed = int.from_bytes(hashlib.sha256(text).digest()[:4], "little")
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(cfg: TuneConfig):
    """The study's pruner: Optuna's MedianPruner on the epochs of the validation curve, or
    none (NopPruner)."""
    import optuna

    if cfg.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.pruner_startup_trials,
            n_warmup_steps=cfg.pruner_warmup_epochs,
        )
    return optuna.pruners.NopPruner()


def finished(search: Search) -> int:
    """Trials that count toward the budget: complete and pruned (Optuna's finished trials)."""
    from optuna.trial import TrialState

    states = search.states()
    return states[TrialState.COMPLETE] + states[TrialState.PRUNED]


def _owner() -> dict:
    import psutil

    me = psutil.Process()
    who = {"host": socket.gethostname(), "pid": os.getpid(), "started": me.create_time()}
    task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if all(task):
        who["slurm_task"] = f"{task[0]}_{task[1]}"  # as submitit names it
    return who


def _stale(trial) -> bool:
    """Whether a RUNNING trial's process is gone (other hosts' trials count as alive)."""
    import psutil

    who = trial.user_attrs.get("owner")
    if not isinstance(who, dict):
        start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        return time.time() - start > STALE_SECONDS
    if who.get("host") != socket.gethostname():
        return False
    try:
        process = psutil.Process(int(who["pid"]))
        alive = process.status() != psutil.STATUS_ZOMBIE
        return not alive or abs(process.create_time() - float(who["started"])) > 1.0
    except (psutil.Error, ValueError, KeyError, TypeError):
        return True


class Search:
    """One variant's study in a storage."""

    def __init__(self, cfg: TuneConfig, variant: str, storage, lock: Path | None, create=True):
        import optuna

        self.cfg, self.variant, self.lock = cfg, variant, lock
        self.space = cfg.space_of(variant)
        self.budget = cfg.budget()[variant]
        name = study_name(cfg, variant)
        direction = OBJECTIVES[cfg.objective]
        with _locked(lock):
            if create:
                self.study = optuna.create_study(
                    study_name=name,
                    storage=storage,
                    direction=direction,
                    load_if_exists=True,
                    pruner=make_pruner(cfg),
                )
            else:
                self.study = optuna.load_study(
                    study_name=name, storage=storage, pruner=make_pruner(cfg)
                )
            made_by = self.study.user_attrs.get("search")
            if made_by is None and create:
                self.study.set_user_attr("search", _fingerprint(cfg, variant))
                self.study.set_user_attr("objective", cfg.objective)
            elif made_by is not None and made_by != _fingerprint(cfg, variant):
                raise ConfigError(
                    f"study {name!r} was made by another search (base, space, trial_seeds, "
                    "objective or sampler_seed differ); give the config another name, or "
                    "another --out or --storage"
                )

    def trials(self, *states):
        return self.study.get_trials(deepcopy=False, states=states or None)

    def states(self) -> collections.Counter:
        """How many trials are in each state, from one read of the storage: counted state by
        state, a trial another process tells complete between two reads is in neither."""
        return collections.Counter(t.state for t in self.trials())

    def claim(self, n: int = 1) -> list:
        """Up to `n` trials to run (their settings sampled one after another, each seeing
        the others as running), fewer when complete and running trials would exceed the
        budget: none when they fill it. Trials of dead processes are failed and queued
        again first."""
        from optuna.trial import TrialState

        with _locked(self.lock):
            for trial in self.trials(TrialState.RUNNING):
                if _stale(trial):
                    self._retry(trial._trial_id, trial.number, trial.params)
            states = self.states()  # one read: other processes tell trials meanwhile
            done = sum(
                states[s] for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            )
            distributions = {k: p.distribution() for k, p in self.space.items()}
            claimed = []
            for _ in range(min(n, self.budget - done)):
                self.study.sampler = _sampler(self.cfg, self.variant, len(self.trials()))
                trial = self.study.ask(distributions)
                trial.set_user_attr("owner", _owner())
                claimed.append(trial)
            return claimed

    def release(self, tasks: set[str]) -> int:
        """Fail and queue again the RUNNING trials of SLURM tasks that have ended (killed
        without a chance to hand their trial back); returns how many."""
        from optuna.trial import TrialState

        released = 0
        with _locked(self.lock):
            for trial in self.trials(TrialState.RUNNING):
                who = trial.user_attrs.get("owner")
                if isinstance(who, dict) and who.get("slurm_task") in tasks:
                    self._retry(trial._trial_id, trial.number, trial.params)
                    released += 1
        return released

    def _retry(self, trial_id: int, number: int, params: dict) -> None:
        """Mark a trial FAILED and queue its settings again (a WAITING trial: the next
        claim takes it)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        storage = self.study._storage
        try:
            storage.set_trial_user_attr(trial_id, "failed", "interrupted")
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                return
        except UpdateFinishedTrialError:  # it finished meanwhile: nothing to retry
            return
        self.study.enqueue_trial(params, user_attrs={"retry_of": number})

    def run(self, trials: list, stack: bool = True) -> None:
        """Train the trials' settings on the trial seeds (those a stack can hold together
        as one stacked model, with `stack`) and tell the study their values."""
        import optuna
        from optuna.trial import TrialState

        worst = 0.0 if self.cfg.objective == "val_accuracy" else float("inf")
        todo, configs = [], []
        try:
            for trial in trials:
                settings = {k: p.decode(trial.params[k]) for k, p in self.space.items()}
                try:
                    configs.append(self.cfg.trial_config(self.variant, settings))
                    todo.append(trial)
                except ConfigError as exc:  # settings valid one by one, not together
                    trial.set_user_attr("invalid", str(exc))
                    self.study.tell(trial, worst)
            if self.cfg.pruner != "none" and len(todo) == 1:  # trial_batch 1 (validated)
                scores = [score_trial(configs[0], self.cfg.objective, _reporter(todo[0]))]
            else:
                scores = score_trials(configs, self.cfg.objective, stack=stack)
        except optuna.TrialPruned as pruned:
            trial = todo[0]
            trial.set_user_attr("pruned", str(pruned))
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        except BaseException:
            with _locked(self.lock):
                for trial in todo:
                    self._retry(trial._trial_id, trial.number, trial.params)
            raise
        for trial, scored in zip(todo, scores, strict=True):
            trial.set_user_attr("per_seed", scored["per_seed"])
            trial.set_user_attr("epochs_run", scored["epochs_run"])
            if scored["diverged"]:
                trial.set_user_attr("diverged", scored["diverged"])
            self.study.tell(trial, scored["value"])

    def best(self) -> dict | None:
        """The best complete trial: number, value, settings (config values)."""
        from optuna.trial import TrialState

        complete = self.trials(TrialState.COMPLETE)
        if not complete:
            return None
        pick = max if OBJECTIVES[self.cfg.objective] == "maximize" else min
        best = pick(complete, key=lambda t: (t.value, -t.number))
        return {
            "number": best.number,
            "value": best.value,
            "settings": {
                k: p.decode(best.params[k]) for k, p in self.space.items() if k in best.params
            },
        }


def _reporter(trial):
    """A trial's report(epoch, value): its value so far to the study's pruner, which may
    prune it (optuna.TrialPruned, stopping its training)."""
    import optuna

    def report(epoch: int, value: float) -> None:
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (value so far {value:.4g})")

    return report


def _searches(cfg: TuneConfig, url: str, folder: Path, create: bool = True) -> dict[str, Search]:
    storage = open_storage(url)
    lock = claim_lock(url, folder)
    return {v: Search(cfg, v, storage, lock, create) for v in cfg.variant_names()}


def run(
    cfg: TuneConfig,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    resume: bool = False,
    executor: str = "local",
    stack: bool = True,
) -> Path:
    """Search every variant to its budget (with any other process on the same study: with
    executor "slurm", `cfg.slurm.workers` SLURM array tasks), then the final ablation of
    the best settings, here; returns the final run folder. `stack=False` trains the trials
    of a batch one at a time (the reference the stacked path is measured against)."""
    folder = tune_folder(cfg, out_dir)
    writable_dir(folder)
    url = storage_url(cfg, folder)
    if executor == "slurm":  # the SLURM client first: a cluster that is not there is refused
        from qmoe_cli.training.slurm import slurm_executor  # before any study is made

        submitter = slurm_executor(
            folder / "submitit" / time.strftime("%Y%m%d-%H%M%S"), cfg.slurm, f"qmoe-tune-{cfg.name}"
        )
    if resume and not _has_study(cfg, url):
        raise ConfigError(f"--resume: no study of {cfg.name!r} in {url}")
    searches = _searches(cfg, url, folder)
    write_text_if_changed(folder / "tune.yaml", dump_config(cfg))
    total = sum(s.budget for s in searches.values())
    searching = not all(finished(s) >= s.budget for s in searches.values())
    tasks = []
    if executor == "slurm" and searching:  # before the progress bar: a refusal is one line
        tasks = submit_workers(cfg, folder, submitter)
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"{cfg.name}: trials", total=total)

            def tick() -> None:
                bar.update(task, completed=sum(_done(s) for s in searches.values()))

            tick()
            if executor == "slurm":
                wait_for_workers(cfg, searches, tasks, tick)
            else:
                pull_trials(searches, cfg.trial_batch, tick, stack=stack)
    except KeyboardInterrupt as exc:
        done = sum(_done(s) for s in searches.values())
        then = ""
        if executor == "slurm":
            then = "; the SLURM tasks submitted go on pulling trials (squeue shows them)"
        exc.rerun = (
            f"{done} of {total} trials are complete in {url}{then}; run the same command "
            "again to continue the study"
        )
        raise
    tuned = write_search(cfg, folder, searches, url)
    return final_run(cfg, folder, tuned, jobs)


def pull_trials(searches: dict[str, Search], batch: int, tick, stack: bool = True) -> int:
    """Claim and run trials, `batch` at a time per variant and the variants in turn, until
    every variant's budget is complete (waiting for other processes' running trials);
    returns how many trials this process ran."""

    ran = 0
    while True:
        claimed = False
        for search in searches.values():  # round-robin: the variants advance together
            trials = search.claim(batch)
            if trials:
                claimed = True
                search.run(trials, stack=stack)
                ran += len(trials)
                tick()
            raise_if_interrupted()
        if claimed:
            continue
        if all(finished(s) >= s.budget for s in searches.values()):
            return ran
        time.sleep(POLL_SECONDS)  # other processes' trials are running
        tick()


def slurm_task(tune_yaml: str, out_dir: str) -> int:
    """One SLURM array task: trials pulled from the shared study until every variant's
    budget is complete; returns how many it ran. SIGTERM (scancel, the time limit) hands
    the running trials back (failed, queued again)."""
    import yaml

    from qmoe_cli.config import validate_config
    from qmoe_cli.workers import install_signal_handlers

    install_signal_handlers()
    cfg = validate_config(yaml.safe_load(tune_yaml), "tune.yaml", TuneConfig)
    folder = tune_folder(cfg, out_dir)
    searches = _searches(cfg, storage_url(cfg, folder), folder)
    return pull_trials(searches, cfg.trial_batch, lambda: None)


def submit_workers(cfg: TuneConfig, folder: Path, executor) -> list:
    """`cfg.slurm.workers` array tasks running slurm_task (one submission: all or none)."""
    from qmoe_cli.training.slurm import submit_array

    n = cfg.slurm.workers
    jobs = submit_array(
        executor,
        Path(executor.folder),
        slurm_task,
        [dump_config(cfg)] * n,
        [str(folder.parent.absolute())] * n,
    )
    out.print(
        f"submitted {n} array tasks to SLURM (job {jobs[0].job_id.split('_')[0]}), "
        f"pulling trials from {storage_url(cfg, folder)}",
        markup=False,
        highlight=False,
    )
    return jobs


def wait_for_workers(cfg: TuneConfig, searches: dict[str, Search], jobs: list, tick) -> None:
    """Wait for the array tasks, showing the trials complete. Trials left running by a task
    that ended (killed) are queued again; budgets still incomplete then are one QmoeError
    (run again to continue)."""

    from qmoe_cli.errors import QmoeError

    while not all(job.done() for job in jobs):
        tick()
        raise_if_interrupted()
        time.sleep(cfg.slurm.poll_seconds)
    failures = []
    for job in jobs:
        try:
            job.result()
        except Exception as exc:  # a task killed, timed out or failed: others may finish
            failures.append(f"SLURM task {job.job_id}: {str(exc).strip().splitlines()[0][:300]}")
    ended = {job.job_id for job in jobs}
    for search in searches.values():
        search.release(ended)
    tick()
    done = sum(_done(s) for s in searches.values())
    total = sum(s.budget for s in searches.values())
    if not all(finished(s) >= s.budget for s in searches.values()):
        why = f" ({failures[0]})" if failures else ""
        raise QmoeError(
            f"{done} of {total} trials are complete after the SLURM tasks ended{why}; run "
            "the same command again to continue the study"
        )


def _done(search: Search) -> int:

    return min(finished(search), search.budget)


def _has_study(cfg: TuneConfig, url: str) -> bool:
    names = {s.study_name for s in open_storage(url).get_all_studies()}
    return all(study_name(cfg, v) in names for v in cfg.variant_names())


def write_text_if_changed(path: Path, text: str) -> None:
    from qmoe_cli.runs import write_text

    if not path.exists() or read_text(path) != text:
        write_text(path, text)


def write_search(cfg: TuneConfig, folder: Path, searches: dict[str, Search], url: str) -> dict:
    """trials.csv and tuned.json in the tuning folder; returns tuned.json's content."""
    from optuna.trial import TrialState

    rows = []
    for name, search in searches.items():
        for t in search.trials():
            rows.append(
                {
                    "variant": name,
                    "trial": t.number,
                    "state": t.state.name,
                    "value": t.value,
                    **{k: _cell(search.space[k].decode(v)) for k, v in t.params.items()},
                    "per_seed": json.dumps(t.user_attrs.get("per_seed")),
                    "retry_of": t.user_attrs.get("retry_of"),
                    "note": t.user_attrs.get("diverged")
                    or t.user_attrs.get("pruned")
                    or t.user_attrs.get("invalid")
                    or t.user_attrs.get("failed")
                    or "",
                }
            )
    write_csv(folder / "trials.csv", rows)
    budget = cfg.budget()
    tuned = {
        "objective": cfg.objective,
        "direction": OBJECTIVES[cfg.objective],
        "trial_seeds": cfg.trial_seeds,
        "seeds": cfg.seeds,
        "sampler": f"TPESampler(seed from sampler_seed={cfg.sampler_seed}, variant, trial)",
        "storage": url,
        "budget": budget,
        "equal_budget": len(set(budget.values())) == 1,
        "test_split_read_by_trials": False,
        "pruner": cfg.pruner
        if cfg.pruner == "none"
        else f"MedianPruner(n_startup_trials={cfg.pruner_startup_trials}, "
        f"n_warmup_steps={cfg.pruner_warmup_epochs} epochs)",
        "budget_counts": "complete and pruned trials (Optuna's finished trials); the best "
        "is chosen among complete ones",
        "variants": {},
    }
    for name, search in searches.items():
        best, states = search.best(), search.states()
        tuned["variants"][name] = {
            "study": study_name(cfg, name),
            "trials_complete": states[TrialState.COMPLETE],
            "trials_pruned": states[TrialState.PRUNED],
            "trials_failed": states[TrialState.FAIL],
            "best_trial": best and best["number"],
            "best_value": best and best["value"],
            "settings": best["settings"] if best else {},
            "space": {k: p.model_dump(mode="json") for k, p in search.space.items()},
            "fixed": fixed_values(cfg, name),
        }
    records.TunedRecord.model_validate(tuned)  # what the report reads back
    write_figures(cfg, folder, searches, tuned)
    write_json(folder / "tuned.json", tuned)
    (folder / "best.md").write_text(best_table(cfg, tuned))
    return tuned


def importances(search: Search) -> tuple[dict[str, float], str]:
    """fANOVA importances of the searched keys over the complete trials (seeded: the same
    numbers for the same trials), and why there are none when there are none."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    complete = search.trials(TrialState.COMPLETE)
    values = {t.value for t in complete}
    if len(complete) < 2 or len(values) < 2:
        return {}, f"{len(complete)} complete trials, {len(values)} distinct values: none"
    finite = [t for t in complete if t.value is not None and abs(t.value) != float("inf")]
    if len(finite) < 2:
        return {}, "fewer than 2 trials with a finite value"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(
                search.study,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            )  # over the trials with a finite value
    except (RuntimeError, ValueError) as exc:
        return {}, f"none ({str(exc).splitlines()[0][:120]})"
    return {k: float(v) for k, v in found.items()}, ""


def write_figures(cfg: TuneConfig, folder: Path, searches: dict[str, Search], tuned: dict):
    """figures/history_<variant>.png and figures/importance_<variant>.png; the importances
    go into `tuned` too."""
    from optuna.trial import TrialState

    from qmoe_cli import figures

    where = folder / "figures"
    where.mkdir(exist_ok=True)
    label = {"val_accuracy": "validation accuracy", "val_loss": "validation loss"}[cfg.objective]
    maximize = OBJECTIVES[cfg.objective] == "maximize"
    for name, search in searches.items():
        complete = search.trials(TrialState.COMPLETE)
        figures.tuning_history(
            where / f"history_{name}.png",
            f"{name}: {len(complete)} trials ({label}, mean over {len(cfg.trial_seeds)} seeds)",
            [{"number": t.number, "value": t.value} for t in complete],
            label,
            maximize,
        )
        found, note = importances(search)
        figures.param_importances(where / f"importance_{name}.png", f"{name}", found, note)
        tuned["variants"][name]["importances"] = found


def fixed_values(cfg: TuneConfig, variant: str) -> dict:
    """The searched keys' values in the variant's config: the fixed protocol's."""
    raw = cfg.variant_config(variant).model_dump(mode="json")
    return {k: setting_of(raw, k) for k in cfg.space_of(variant)}


def best_table(cfg: TuneConfig, tuned: dict) -> str:
    """best.md: per variant, each searched key's fixed-protocol value beside the tuned one."""
    lines = [
        f"# {cfg.name}: the best settings on validation beside the fixed protocol's",
        "",
        f"Objective: {cfg.objective} ({tuned['direction']}d), the mean over trial seeds "
        f"{cfg.trial_seeds}; budgets {tuned['budget']}"
        + (" (equal)." if tuned["equal_budget"] else " (unequal)."),
        "",
        "| variant | key | fixed protocol | tuned | importance |",
        "|---|---|---|---|---|",
    ]
    for name, v in tuned["variants"].items():
        for key, fixed in v["fixed"].items():
            tuned_value = v["settings"].get(key, "")
            share = v.get("importances", {}).get(key)
            lines.append(
                f"| {name} | `{key}` | {_md(fixed)} | {_md(tuned_value)} | "
                f"{'' if share is None else f'{share:.2f}'} |"
            )
        best = "" if v["best_value"] is None else f"{v['best_value']:.4f}"
        lines.append(f"| {name} | best {cfg.objective} (trial {v['best_trial']}) | | {best} | |")
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return (
        json.dumps(value) if isinstance(value, list | dict | bool) or value is None else str(value)
    )


def final_run(cfg: TuneConfig, folder: Path, tuned: dict, jobs: int) -> Path:
    """The final ablation of the best settings (once, whichever process gets here first)."""
    from qmoe_cli.experiments import ablate

    final_cfg = cfg.final_config({n: v["settings"] for n, v in tuned["variants"].items()})
    text = dump_config(final_cfg)
    final_dir = folder / "final"
    writable_dir(final_dir)
    with _locked(folder / ".final.lock"):
        for child in sorted(final_dir.iterdir(), reverse=True):
            if is_complete_run(child) and read_text(child / "config.yaml") == text:
                out.print(f"final run already done: {child}", markup=False, highlight=False)
                return child
        err.print(_best_lines(cfg, tuned), markup=False, highlight=False)
        return ablate.run(final_cfg, final_dir, jobs=jobs, records={"tuned.json": tuned})


def _best_lines(cfg: TuneConfig, tuned: dict) -> str:
    lines = [f"{cfg.name}: best settings on validation ({cfg.objective})"]
    for name, v in tuned["variants"].items():
        settings = _settings(v["settings"])
        lines.append(f"  {name}: {v['best_value']:.4f} (trial {v['best_trial']}) {settings}")
    return "\n".join(lines)


def status(cfg: TuneConfig, out_dir: str | Path) -> None:
    """Trials done per variant and the best so far."""
    from optuna.trial import TrialState

    url = storage_url(cfg, tune_folder(cfg, out_dir))
    if not _has_study(cfg, url):
        out.print(f"{cfg.name}: no study yet in {url}", markup=False, highlight=False)
        return
    searches = _searches(cfg, url, tune_folder(cfg, out_dir), create=False)
    table = Table(title=f"{cfg.name}: {url}")
    columns = ("variant", "finished", "pruned", "running", "failed", f"best {cfg.objective}")
    for col in (*columns, "settings"):
        table.add_column(col, justify="left" if col in ("variant", "settings") else "right")
    for name, search in searches.items():
        best, states = search.best(), search.states()
        table.add_row(
            name,
            f"{states[TrialState.COMPLETE] + states[TrialState.PRUNED]}/{search.budget}",
            str(states[TrialState.PRUNED]),
            str(states[TrialState.RUNNING]),
            str(states[TrialState.FAIL]),
            "" if best is None else f"{best['value']:.4f} (trial {best['number']})",
            "" if best is None else _settings(best["settings"]),
        )
    out.print(table)


def _cell(value: Any) -> Any:
    """A setting in a CSV cell: scalars as they are, lists and mappings as JSON."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
