"""What an audited paper gives the report (qmoe_cli/paper/ holds one `Paper` per paper): its
claims, each with the function that measures it, and what it prints beside our tables. The
report knows no paper but this shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qmoe_cli.report.inputs import Run
from qmoe_cli.report.measured import ModelResult
from qmoe_cli.report.render import Block
from qmoe_cli.report.verdicts import Claim


@dataclass(frozen=True)
class Paper:
    name: str
    title: str
    claims: tuple[Claim, ...]  # each names the function that measures it
    min_epochs: int | None  # runs trained for fewer epochs do not test the paper
    notes: Callable[[], list[str]] = lambda: []  # paragraphs under the claims table
    # the paper's values beside a measured model of an ablation / a noise level of a sweep
    ablation_columns: Callable[[Run, ModelResult], dict[str, str]] = lambda run, m: {}
    noise_columns: Callable[[Run, float], dict[str, str]] = lambda run, level: {}
    # (run kind, data set) -> section title, for the paper's tables
    section_titles: dict[tuple[str, str], str] = field(default_factory=dict)
    # what it prints in the diagnostics section, given the diagnose runs (e.g. a claim's
    # sensitivity to its threshold)
    diagnostics: Callable[[list[Run]], list[Block]] = lambda runs: []
