"""Audited papers: each one module holding its claims as data, the functions that measure
them and what it prints beside our tables. The report (qmoe_cli/report/) knows no paper; the
command line picks one (`qmoe report --paper NAME`). Another paper's audit is one more module
here and one line in PAPERS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qmoe_cli.paper import hybrid_qmoe
from qmoe_cli.report.inputs import ModelResult, Run
from qmoe_cli.report.verdicts import Claim, Measure


@dataclass(frozen=True)
class Paper:
    name: str
    title: str
    claims: tuple[Claim, ...]
    measures: dict[str, Measure]
    min_epochs: int | None  # runs trained for fewer epochs do not test the paper
    notes: Callable[[], list[str]] = lambda: []  # paragraphs under the claims table
    # the paper's values beside a measured model of an ablation / a noise level of a sweep
    ablation_columns: Callable[[Run, ModelResult], dict[str, str]] = lambda run, m: {}
    noise_columns: Callable[[Run, float], dict[str, str]] = lambda run, level: {}
    # (run kind, data set) -> section title, for the paper's tables
    section_titles: dict[tuple[str, str], str] = field(default_factory=dict)


PAPERS = {
    "hybrid-qmoe": Paper(
        name="hybrid-qmoe",
        title=hybrid_qmoe.TITLE,
        claims=hybrid_qmoe.CLAIMS,
        measures=hybrid_qmoe.MEASURES,
        min_epochs=hybrid_qmoe.PAPER_EPOCHS,
        notes=lambda: [hybrid_qmoe.eta_note()],
        ablation_columns=hybrid_qmoe.ablation_columns,
        noise_columns=hybrid_qmoe.noise_columns,
        section_titles=hybrid_qmoe.SECTION_TITLES,
    )
}
DEFAULT_PAPER = "hybrid-qmoe"
