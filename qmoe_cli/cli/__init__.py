"""The `qmoe` command line: each command is a thin call into experiments/ (or report/).

app.py holds the application and the entry point, common.py what every command shares,
running.py the commands that run configs (one per kind of qmoe_cli/kinds.py, built from the
table), results.py the commands that use run folders.
"""

# importing the command modules registers their commands, in this order in `qmoe --help`
from qmoe_cli.cli import running  # noqa: F401
from qmoe_cli.cli.app import app, run

# isort: split
from qmoe_cli.cli import results  # noqa: F401

__all__ = ["app", "run"]
