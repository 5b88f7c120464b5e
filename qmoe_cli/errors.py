"""Errors the CLI turns into one clear line and an exit code (never a traceback)."""


class QmoeError(Exception):
    """A problem the user can fix; the message names the key or file."""

    exit_code = 1


class ConfigError(QmoeError):
    """Bad config file, key, value or override."""

    exit_code = 2


class DataError(QmoeError):
    """A dataset that cannot be loaded or split as asked."""

    exit_code = 2


class TrainingError(QmoeError):
    """Training could not go on (e.g. the loss became NaN or infinite)."""

    exit_code = 1


class RunFolderError(QmoeError):
    """The output directory cannot be written or a run folder cannot be read."""

    exit_code = 1


class NothingToDo(QmoeError):
    """What was asked is done already (e.g. --resume of a complete run): said, exit 0."""

    exit_code = 0


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: the command stops, keeping every training that finished.

    A KeyboardInterrupt, so that nothing that catches Exception swallows it; `folder` is
    set to the (resumable) run folder when there is one."""

    def __init__(self, signum: int, name: str):
        super().__init__(name)
        self.signal_name = name
        self.exit_code = 128 + signum
        self.folder = None
