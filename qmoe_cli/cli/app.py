"""The `qmoe` application: its name, `--version`, and the executable's entry point."""

from __future__ import annotations

import gc
import os
import signal
import sys

import typer

# typer prints an argument's Python type beside its metavar (`CONFIG <list[Path]>`,
# `DATASET <str>`): the metavar and the help say what to give, in the user's words.
typer.core.TyperArgument.display_type = lambda self, ctx: ""  # type: ignore[method-assign]


app = typer.Typer(
    name="qmoe",
    help="A lab for hybrid quantum-classical Mixture-of-Experts research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: real placeholders, flags without a <bool> type
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"qmoe {version('qmoe-cli')}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print qmoe's version and exit.",
    ),
):
    """A lab for hybrid quantum-classical Mixture-of-Experts research."""


def run() -> None:
    """The `qmoe` executable. gc.freeze() at the end spares the interpreter's final garbage
    collection over every torch and matplotlib object (docs/performance.md, "Start-up")."""
    try:
        _run()
    finally:
        _end_now_if_a_thread_is_stuck()


def _end_now_if_a_thread_is_stuck() -> None:
    """The interpreter's exit joins every non-daemon thread. A worker pool stopped by a
    signal can leave its manager thread blocked (unpickling a last result that imports a
    library, or reading one its killed worker never finished: CPython's ProcessPoolExecutor),
    and the exit would wait for ever (an ablate hung up by SIGHUP, once in CI). The command's
    work and clean-up are done by now: flush and end the process with its exit code."""
    workers = sys.modules.get("qmoe_cli.workers")
    if workers is None or not workers.stuck_threads():
        return
    exc = sys.exc_info()[1]
    code = exc.code if isinstance(exc, SystemExit) else (0 if exc is None else 1)
    if not isinstance(code, int):
        code = 0 if code is None else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a hung-up terminal, a closed stream
            pass
    os._exit(code)


def _run() -> None:
    try:
        app()
    finally:
        workers = sys.modules.get("qmoe_cli.workers")
        if workers is not None:  # the kept worker pool (workers.map_calls) ends with us
            lost = workers.interrupt_seen()  # a signal whose exception was swallowed
            signum = workers.end_of_command()
            signum = lost.exit_code - 128 if lost is not None else signum
            if signum is not None:  # the command's work was done and written meanwhile
                from qmoe_cli.progress import err

                name = signal.Signals(signum).name
                err.print(f"interrupted ({name}) as the command ended; its work is complete")
                raise SystemExit(128 + signum)
        gc.freeze()
