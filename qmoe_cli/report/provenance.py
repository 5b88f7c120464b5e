"""Environment and provenance: what produced each run (host, packages, git revision, command
line), as one section of the report."""

from __future__ import annotations

from collections import Counter

from qmoe_cli import records
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.render import Block, Code, Heading, Para, Table
from qmoe_cli.report.tables import _seeds


def provenance_section(runs: list[Run], report_env: records.EnvRecord | None) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Environment and provenance")]
    if report_env:
        blocks.append(
            Para(
                f"This report: generated {report_env.time or '?'} on "
                f"{report_env.host or '?'} by qmoe-cli "
                f"{report_env.packages.get('qmoe-cli', '?')} at git "
                f"{_git(report_env.git)}; command: {_command(report_env)}"
            )
        )
    rows = []
    for r in runs:
        if r.sweep is not None:
            rows.append([r.label, r.kind, *_sweep_env(r)])
        elif r.env is None:
            not_recorded = ["not recorded", "?", "not recorded", "?", "?", "?"]
            rows.append([r.label, r.kind, *not_recorded])
        else:
            env = r.env
            rows.append(
                [
                    r.label,
                    r.kind,
                    _command(env),
                    env.time or "?",
                    _git(env.git),
                    env.python or "?",
                    env.platform or "?",
                    env.host or "?",
                ]
            )
        rows[-1] += [_seeds(r.seeds), r.data_source or "?"]
    blocks.append(
        Table(
            [
                "run",
                "kind",
                "command",
                "time",
                "git revision",
                "python",
                "platform",
                "host",
                "seeds",
                "data source",
            ],
            rows,
            "Provenance of each run (env.json, metrics.json, config.yaml; for a sweep, the "
            "distinct values over its points' env.json, with how many points each)",
        )
    )
    packages: list[str] = []
    for r in runs:
        for env in _envs(r):
            packages += [p for p in env.packages if p not in packages]
    if packages:
        rows = []
        for pkg in packages:
            versions = [_package_version(r, pkg) for r in runs]
            same = "yes" if len(set(versions)) == 1 else "no"
            rows.append([pkg, *versions, same])
        blocks.append(
            Table(
                ["package", *(r.label for r in runs), "same in all"],
                rows,
                "Package versions (from each run's env.json; for a sweep, its points')",
            )
        )
    for r in runs:
        if r.config_text is not None:
            file = "sweep.yaml" if r.sweep is not None else "config.yaml"
            blocks.append(Code(r.config_text, f"{r.label} {file} ({r.name})"))
    return blocks


def _envs(run: Run) -> list[records.EnvRecord]:
    if run.sweep is not None:
        return [p.run.env for p in run.sweep.points if p.run.env]
    return [run.env] if run.env else []


def _package_version(run: Run, pkg: str) -> str:
    versions = [v for env in _envs(run) if (v := env.packages.get(pkg))]
    return " / ".join(dict.fromkeys(versions)) or "—"


def _sweep_env(run: Run) -> list[str]:
    """command, time, git revision, python, platform and host over a sweep's points: each
    distinct value once, with how many points it covers when they differ."""
    points = run.sweep.points if run.sweep else []
    if not points:
        return ["no finished point", "?", "not recorded", "?", "?", "?"]
    envs = [p.run.env for p in points]
    times = sorted(e.time for e in envs if e is not None and e.time)
    span = "?" if not times else times[0] if times[0] == times[-1] else f"{times[0]} to {times[-1]}"
    return [
        _compact([_command(e) for e in envs]),
        span,
        _compact([_git(e.git) if e else "not recorded" for e in envs]),
        _compact([(e.python if e else None) or "?" for e in envs]),
        _compact([(e.platform if e else None) or "?" for e in envs]),
        _compact([(e.host if e else None) or "?" for e in envs]),
    ]


def _compact(values: list[str]) -> str:
    counts = Counter(values)
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{v} ({n} points)" for v, n in counts.items())


def _git(git: records.GitRevision | None) -> str:
    if git is None or not git.revision:
        return "not a git checkout"
    return git.revision[:12] + (" (uncommitted changes)" if git.dirty else "")


def _command(env: records.EnvRecord | None) -> str:
    if env is None or not env.command:
        return "not recorded"
    return env.command + (f" (in {env.cwd})" if env.cwd else "")
