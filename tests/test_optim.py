"""qmoe_cli/optim.py against torch.optim: the same fused kernels, so the same numbers bit for
bit, and no torch._dynamo import (the reason the module exists)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from qmoe_cli.optim import FusedAdam, FusedSGD


def _train(make_opt, dtype, steps=40):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).to(
        dtype
    )
    unused = torch.nn.Parameter(torch.ones(2, dtype=dtype))  # never gets a gradient
    params = [*model.parameters(), unused]
    opt = make_opt(params)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=gen, dtype=dtype)
        y = torch.randint(0, 2, (8,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_is_torch_fused_adam_bit_for_bit(dtype, weight_decay):
    ours = _train(lambda ps: FusedAdam(ps, lr=0.05, weight_decay=weight_decay), dtype)
    ref = _train(
        lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=weight_decay, fused=True), dtype
    )
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0], _train(lambda ps: FusedAdam(ps, lr=0.05), dtype, 0)[0])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_is_torch_fused_sgd_bit_for_bit(momentum):
    kwargs = {"lr": 0.1, "momentum": momentum, "weight_decay": 0.001}
    ours = _train(lambda ps: FusedSGD(ps, **kwargs), torch.float64)
    ref = _train(lambda ps: torch.optim.SGD(ps, **kwargs, fused=True), torch.float64)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_training_does_not_import_dynamo():
    code = (
        "import sys, torch\n"
        "from qmoe_cli.optim import FusedAdam\n"
        "p = torch.nn.Parameter(torch.ones(3))\n"
        "opt = FusedAdam([p], lr=0.1)\n"
        "(p ** 2).sum().backward(); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
