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
