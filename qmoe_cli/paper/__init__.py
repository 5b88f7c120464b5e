"""Audited papers: each one package holding its claims as data, the functions that measure
them and what it prints beside our tables, ending in one `Paper` (qmoe_cli/report/audit.py).
The report (qmoe_cli/report/) knows no paper; the command line picks one (`qmoe report
--paper NAME`). Another paper's audit is one more package here and one entry in PAPERS."""

from __future__ import annotations

from qmoe_cli.paper import hybrid_qmoe

PAPERS = {paper.name: paper for paper in (hybrid_qmoe.PAPER,)}
DEFAULT_PAPER = "hybrid-qmoe"
