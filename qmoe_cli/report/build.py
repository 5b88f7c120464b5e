"""`qmoe report RUN_DIR... [--out DIR]`: tables, figures and the paper's claims beside the
measured values, written as report.md and a self-contained report.html. RUN_DIR may also be
a sweep folder written by `qmoe sweep` (runs/sweeps/<name>/): it gets a "Sweeps" section
and does not feed the claims.

    <report>/report.md  report.html  claims.json  figures/<run>-<figure>.png
    <report>/results.md   report.md without figures (docs/results.md is a copy)
    <report>/config.yaml env.json metrics.json        (default folder only: a run folder)

Without --out the report goes to a new `runs/<YYYYmmdd-HHMMSS>-report/`, written under a
temporary name and renamed when complete (like every run folder); with --out the files are
written into that folder, each one atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from qmoe_cli import figures as plots  # the scorecard
from qmoe_cli import records
from qmoe_cli.errors import RunFolderError
from qmoe_cli.kinds import KINDS, REPORT_ORDER, resolve
from qmoe_cli.report import claims_tables, provenance, render, tables, verdicts
from qmoe_cli.report.audit import Paper
from qmoe_cli.report.inputs import SWEEP, Run, Skipped, gather
from qmoe_cli.runs import RunFolder, environment, writable_dir, write_json

DEFAULT_OUT = "runs"


RESULTS_HEADER = (
    "<!-- Written by `qmoe report` (`make reproduce-paper` copies it to docs/results.md): "
    "regenerate it, do not edit it by hand. -->\n\n"
)


def title_of(paper: Paper) -> str:
    return f"qmoe report: {paper.title}, paper vs measured"


def build_report(run_dirs: list[Path], paper: Paper, out: Path | None = None) -> tuple[Path, Path]:
    """Read the runs, judge the paper's claims on them (`paper`: one of qmoe_cli.paper's),
    write the report; return the paths of report.md and report.html."""
    found = gather(list(run_dirs))
    runs, skipped = found.runs, found.skipped
    if skipped:
        from qmoe_cli.progress import err

        err.print(
            f"report: skipped {len(skipped)} folder(s) that are not complete runs "
            "(listed in the report)",
            markup=False,
            highlight=False,
        )
    env = environment()
    if out is not None:
        folder = writable_dir(out)
        write_report(folder, runs, env, paper, skipped)
        return folder / "report.md", folder / "report.html"
    inputs: dict[str, object] = {
        "command": "report",
        "paper": paper.name,
        "runs": [str(r.path.resolve()) for r in runs],
    }
    if skipped:
        inputs["skipped"] = {str(s.path.resolve()): s.why for s in skipped}
    text = yaml.safe_dump(inputs, sort_keys=False)
    with RunFolder(DEFAULT_OUT, "report", text, with_id=False) as report:
        write_json(report.path / "env.json", env)
        findings = write_report(report.path, runs, env, paper, skipped)
        by_claim = verdicts.verdicts(findings, paper.claims)
        write_json(
            report.path / "metrics.json",
            {
                **inputs,
                "verdicts": verdicts.counts(by_claim),
                "not_reproduced_by_direction": verdicts.direction_counts(by_claim),
                "claims": [v.as_dict() for v in by_claim],
                "measurements": [f.as_dict() for f in findings],
            },
        )
    return report.path / "report.md", report.path / "report.html"


def write_report(
    folder: Path,
    runs: list[Run],
    env: dict | None,
    paper: Paper,
    skipped: Sequence[Skipped] = (),
) -> list[verdicts.Finding]:
    figures_dir = folder / "figures"

    def figure(run: Run, name: str, caption: str) -> render.Figure | None:
        src = run.path / name
        if not src.is_file():
            return None
        dest = figures_dir / f"{run.label}-{name}"
        try:
            figures_dir.mkdir(exist_ok=True)
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise RunFolderError(f"cannot copy {src} to {dest}: {exc.strerror}") from None
        return render.Figure(dest, f"figures/{dest.name}", caption)

    evidence = verdicts.Evidence.gather(runs)
    findings = verdicts.evaluate(evidence, paper.claims, paper.min_epochs)
    figures_dir.mkdir(exist_ok=True)
    scorecard = figures_dir / "scorecard.png"
    plots.scorecard(scorecard, claims_tables.scorecard_rows(findings, paper.claims))
    card = render.Figure(
        scorecard,
        f"figures/{scorecard.name}",
        "Scorecard: one row per claim; the bar is the measured interval (for single-run "
        "claims the 95 % prediction interval for one run), the black mark the paper's value, "
        "the colour the verdict",
    )
    blocks = assemble(runs, findings, figure, env, paper, card, skipped)
    _write_atomic(folder / "report.md", render.to_markdown(blocks))
    # the same without figures, for docs/results.md (`make reproduce-paper` copies it there)
    text = render.to_markdown([b for b in blocks if not isinstance(b, render.Figure)])
    _write_atomic(folder / "results.md", RESULTS_HEADER + text)
    _write_atomic(folder / "report.html", render.to_html(blocks, title_of(paper)))
    by_claim = verdicts.verdicts(findings, paper.claims)
    payload = {
        "paper": paper.name,
        "runs": {r.label: str(r.path) for r in runs},
        "skipped": {str(s.path): s.why for s in skipped},
        "counts": verdicts.counts(by_claim),
        "not_reproduced_by_direction": verdicts.direction_counts(by_claim),
        "verdicts": [v.as_dict() for v in by_claim],
        "claims": [f.as_dict() for f in findings],
    }
    _write_atomic(folder / "claims.json", json.dumps(payload, indent=2) + "\n")
    return findings


def assemble(
    runs: list[Run],
    findings: list[verdicts.Finding],
    figure: tables.FigureFn,
    env: dict | None,
    paper: Paper,
    scorecard: render.Figure | None = None,
    skipped: Sequence[Skipped] = (),
) -> list[render.Block]:
    B = render
    blocks: list[render.Block] = [
        B.Heading(1, title_of(paper)),
        B.Para(
            "Every number below is read from the run folders listed here, measured on a "
            "held-out test split over several seeds. The paper's values are shown beside them "
            "as printed; the verdict rules and interval methods are stated below."
        ),
        *claims_tables.claims_section(findings, paper, scorecard),
        tables.runs_table(runs),
        *tables.problems_list(runs),
        *tables.skipped_list(list(skipped)),
    ]
    for kind in REPORT_ORDER:  # each kind's section, as the kinds table names it
        target = KINDS[kind].section
        if target is not None:
            section = resolve(target)
            blocks += section([r for r in runs if r.kind == kind], figure, paper)
    sweeps = [r for r in runs if r.kind == SWEEP]
    if sweeps:
        blocks += tables.sweeps_section(sweeps)
    blocks += [
        B.Heading(2, "How each claim is measured"),
        claims_tables.claims_definitions(paper.claims),
    ]
    blocks += provenance.provenance_section(
        runs, records.EnvRecord.model_validate(env) if env else None
    )
    return blocks


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc.strerror}") from None
