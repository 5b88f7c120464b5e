"""`python -m qmoe_cli.cli`: the `qmoe` executable."""

from qmoe_cli.cli import run

run()
