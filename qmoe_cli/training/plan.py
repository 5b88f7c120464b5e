"""Planning many trainings: which seeds train together as one stack, and how the stacks are
shared among worker processes (the order changes no number)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qmoe_cli.config import ExperimentConfig, dump_config


@dataclass
class Training:
    """One training of a group: `key` names it in the group (a variant, a level...), `cell`
    is the seed folder it is written to as soon as it finishes."""

    key: Any
    cfg: ExperimentConfig
    seed: int
    cell: Path


def stacks(todo: list[Training], jobs: int) -> list[list[int]]:
    """Indices of `todo` grouped by config (same key, same config: the seeds of one
    variant or level), each group cut into about `jobs / groups` stacks so that every
    worker has one: with 4 variants x 20 seeds and 2 workers, 4 stacks of 20; with one
    variant and 2 workers, 2 stacks of 10. The stacked engine bounds its memory by chunks
    of its own (stacked.chunk_size). Configs the engine does not take train one seed a
    stack (finished trainings are kept seed by seed). The costliest units come first."""
    from qmoe_cli.training import stacked

    by_config: dict = {}
    for i, t in enumerate(todo):
        by_config.setdefault((repr(t.key), dump_config(t.cfg)), []).append(i)
    stackable, alone = [], []
    for members in by_config.values():
        if stacked.supports(todo[members[0]].cfg) is None:
            stackable.append(members)
        else:  # one at a time: one a stack
            alone += [[i] for i in members]
    units = split_for_workers(stackable, jobs, len(by_config)) + alone
    # the workers take units in this order: the costliest first, so that cheap ones fill the
    # end instead of a big one starting last (the order changes no number)
    return sorted(units, key=lambda unit: -_cost(todo[unit[0]].cfg, len(unit)))


def _cost(cfg: ExperimentConfig, n_models: int) -> float:
    """A rough cost of training n_models of cfg, only to order the work: epochs times the
    size of its circuits' states (density matrices: squared) per model."""
    size = 1.0
    for circuit in (cfg.model.router, cfg.model.experts):
        if circuit.type != "quantum":
            continue
        noise = getattr(cfg.model.router, "noise", None) or getattr(circuit, "noise", None)
        noisy = noise is not None and bool(
            noise.depolarizing or noise.depolarizing_2q or noise.readout_error
        )
        count = getattr(circuit, "count", 1) if circuit is cfg.model.experts else 1
        size += count * circuit.layers * 2 ** (circuit.qubits * (2 if noisy else 1))
    return n_models * cfg.train.epochs * size


def split_for_workers(groups: list[list], jobs: int, n_groups: int | None = None) -> list[list]:
    """Each group cut into about `jobs / n_groups` equal parts (n_groups: len(groups) by
    default), so that every worker has a part when there are fewer groups than workers."""
    parts = max(1, -(-jobs // max(n_groups or len(groups), 1)))  # ceil
    out = []
    for group in groups:
        size = -(-len(group) // min(parts, len(group)))
        out += [group[k : k + size] for k in range(0, len(group), size)]
    return out
