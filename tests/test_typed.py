"""The report and the audited papers read typed records and are type-checked (`make lint`
runs mypy over qmoe_cli/report and qmoe_cli/paper with pyproject.toml's settings): a
misspelt field is an error there, never a wrong number in the report."""

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent

# Report code with the typos a report table could make; each line must be an error.
MISSPELT = """
from qmoe_cli import records
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.measured import ModelResult


def fit_time(run: Run) -> float:
    return run.record_as(records.TrainRecord).per_seed[0].seconds


def median(m: ModelResult) -> float | None:
    return m.row.test_acc_medain


def host(run: Run) -> str | None:
    return run.env.hots if run.env else None


def budget(run: Run) -> int:
    return run.experiment.train.epoch if run.experiment else 0


def stat() -> records.Stat:
    return records.Stat(mean=0.9, sd=0.1, ci_low=0.8, ci_high=1.0, n=5)
"""
SPELT = """
from qmoe_cli import records
from qmoe_cli.report.inputs import Run
from qmoe_cli.report.measured import ModelResult


def fit_time(run: Run) -> float:
    return run.record_as(records.TrainRecord).per_seed[0].fit_seconds


def median(m: ModelResult) -> float | None:
    return m.row.test_acc_median
"""


def _mypy(*paths: Path) -> tuple[str, int]:
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),  # the one `make lint` fills
            *map(str, paths),
        ]
    )
    return out + err, status


def test_a_misspelt_record_field_in_report_code_is_a_type_error(tmp_path):
    (tmp_path / "misspelt.py").write_text(MISSPELT)
    out, status = _mypy(tmp_path / "misspelt.py")
    assert status == 1, out
    for error in (
        '"SeedRecord" has no attribute "seconds"; maybe "fit_seconds"?',
        '"VariantSummary" has no attribute "test_acc_medain"',
        '"EnvRecord" has no attribute "hots"',
        '"TrainConfig" has no attribute "epoch"',
        'Unexpected keyword argument "sd" for "Stat"',
    ):
        assert error in out, out
    (tmp_path / "spelt.py").write_text(SPELT)
    out, status = _mypy(tmp_path / "spelt.py")
    assert status == 0, out


def test_the_report_and_the_papers_type_check():
    out, status = _mypy(ROOT / "qmoe_cli" / "report", ROOT / "qmoe_cli" / "paper")
    assert status == 0, out
