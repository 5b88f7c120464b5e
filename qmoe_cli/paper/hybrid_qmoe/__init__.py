"""The audited paper: "Hybrid Quantum-Classical Mixture of Experts: Unlocking Topological
Advantage via Interference-Based Routing" (arXiv 2512.22296).

Its claims as data (claims.py: one entry per number or comparison it states; DESIGN.md,
"What the paper claims"), the paper's numbers (printed.py) and the functions that measure
each claim on the runs given to `qmoe report`, one module per part of the paper (table_i,
efficiency, noise, fully_quantum, hardware), judged by the general rules of
qmoe_cli/report/verdicts.py. The paper trains 100 epochs: runs with fewer do not test it.
Choices the paper leaves open and that we run both ways: Model B's layout at 24 parameters,
Model C's layout, noise-aware training, early stopping.
"""

from __future__ import annotations

from qmoe_cli.paper.hybrid_qmoe.claims import CLAIMS
from qmoe_cli.paper.hybrid_qmoe.mechanism import barren_sensitivity
from qmoe_cli.paper.hybrid_qmoe.noise import noise_columns
from qmoe_cli.paper.hybrid_qmoe.printed import PAPER_EPOCHS, TITLE
from qmoe_cli.paper.hybrid_qmoe.table_i import ablation_columns, eta_note
from qmoe_cli.report.audit import Paper

SECTION_TITLES = {
    ("ablate", "two_moons"): "Table I: Two Moons ablation",
    ("noise-sweep", "two_moons"): "Table II: accuracy under depolarizing noise",
}

PAPER = Paper(
    name="hybrid-qmoe",
    title=TITLE,
    claims=CLAIMS,
    min_epochs=PAPER_EPOCHS,
    notes=lambda: [eta_note()],
    ablation_columns=ablation_columns,
    noise_columns=noise_columns,
    section_titles=SECTION_TITLES,
    diagnostics=barren_sensitivity,
)
