"""Training: the sequential fit loop (sequential.py: the reference every engine is held to),
the stacked engine and its modules (stacked.py, stacked_modules.py: many models of one config
as one batched model, by the stacked forms the kinds declare, models/stacked_forms.py), one
seed's run (seeds.py), the planning of many trainings into stacks and workers (plan.py) and
the worker calls (pool.py).

This package imports torch: only when a command trains or reads trained models back.
"""

from qmoe_cli.training.sequential import (
    DTYPES,
    FitResult,
    fit,
    loss_of,
    make_optimizer,
    seed_everything,
)

__all__ = ["DTYPES", "FitResult", "fit", "loss_of", "make_optimizer", "seed_everything"]
