"""The command line's own help: a version, and choices shown where they are fixed."""

from importlib.metadata import version

import pytest


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output.strip() == f"qmoe {version('qmoe-cli')}"


@pytest.mark.parametrize(
    "command, choices",
    [
        ("sweep", "local|slurm"),
        ("noise-sweep", "torch|qiskit-aer"),
        ("export", "qasm3|qiskit|pennylane"),
    ],
)
def test_fixed_choices_are_shown_in_help(cli, command, choices):
    result = cli(command, "--help")
    assert result.exit_code == 0 and choices in result.output


def test_help_has_real_placeholders_and_no_bool_type(cli):
    for command in ("train", "ablate", "sweep", "noise-sweep", "export", "report"):
        result = cli(command, "--help")
        assert result.exit_code == 0
        assert "<bool>" not in result.output and "<int>" not in result.output, command
        assert "<str>" not in result.output.split("Options:")[1], command
    assert "{CONFIG}" in cli("ablate", "--help").output  # typer's mark of a required argument
    assert "--seeds S,S,..." in cli("ablate", "--help").output


def test_group_tables_fit_120_columns(cli, write_config, tmp_path):
    """The ablation's tables, as a pipe or a file gets them: no line of a table is wider
    than 120 columns and no cell is cut short."""
    from tests.conftest import TINY

    config = write_config(
        {
            **{k: v for k, v in TINY.items() if k != "model"},
            "kind": "ablate",
            "model": {"experts": {"count": 2}},
            "seeds": [0, 1],
            "reference": "A",
            "plateau": 0.9,
            "variants": {
                "A": {
                    "label": "a linear router with a label long enough to wrap",
                    "router": {"type": "linear"},
                },
                "C": {"label": "MLP router", "router": {"type": "mlp", "hidden": [12, 12]}},
            },
        }  # fmt: skip
    )
    result = cli("ablate", config, "--out", tmp_path / "runs", "--jobs", "1")
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert len(table_lines) >= 6
    assert max(len(line) for line in table_lines) <= 120
    assert "…" not in result.output


def test_no_python_type_shows_beside_an_argument(cli):
    """typer printed `CONFIG <list[Path]>` and `DATASET <str>`: placeholders say it all."""
    for command in (["run"], ["report"], ["data", "fetch"], ["train"], ["export"], ["sweep"]):
        output = cli(*command, "--help").output
        arguments = output.split("Arguments:")[1].split("Options:")[0]
        assert "<" not in arguments, (command, arguments)
