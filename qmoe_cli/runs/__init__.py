"""Run folders: written under a temporary name and renamed into place when complete
(folder.py: create, resume, discover, read and write their files), their cells (cells.py:
one finished training each), the train-format folder (train_format.py) and a group's many
trainings (group.py). Only folder.py is light (no torch); the others are imported by name.
"""

from qmoe_cli.runs.folder import (
    COMPLETE_MARKER,
    OWNER,
    CorruptFile,
    RunFolder,
    config_id,
    environment,
    find_complete,
    find_resumable,
    is_complete_run,
    load_checkpoint,
    owner,
    owner_alive,
    read_csv,
    read_error,
    read_json,
    read_text,
    writable_dir,
    write_csv,
    write_error,
    write_json,
    write_text,
)

__all__ = [
    "COMPLETE_MARKER",
    "OWNER",
    "CorruptFile",
    "RunFolder",
    "config_id",
    "environment",
    "find_complete",
    "find_resumable",
    "is_complete_run",
    "load_checkpoint",
    "owner",
    "owner_alive",
    "read_csv",
    "read_error",
    "read_json",
    "read_text",
    "writable_dir",
    "write_csv",
    "write_error",
    "write_json",
    "write_text",
]
