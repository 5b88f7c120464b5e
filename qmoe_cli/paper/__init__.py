"""Audited papers: each one module holding its claims as data, the functions that measure
them and what it prints beside our tables. The report (qmoe_cli/report/) knows no paper; the
command line picks one (`qmoe report --paper NAME`). Another paper's audit is one more module
here and one line in PAPERS."""

from __future__ import annotations

from qmoe_cli.paper import hybrid_qmoe
from qmoe_cli.report.audit import Paper

PAPERS = {
    "hybrid-qmoe": Paper(
        name="hybrid-qmoe",
        title=hybrid_qmoe.TITLE,
        claims=hybrid_qmoe.CLAIMS,
        min_epochs=hybrid_qmoe.PAPER_EPOCHS,
        notes=lambda: [hybrid_qmoe.eta_note()],
        ablation_columns=hybrid_qmoe.ablation_columns,
        noise_columns=hybrid_qmoe.noise_columns,
        section_titles=hybrid_qmoe.SECTION_TITLES,
    )
}
DEFAULT_PAPER = "hybrid-qmoe"
