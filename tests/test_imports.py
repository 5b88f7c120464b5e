"""The collector paused around heavy imports (qmoe_cli/imports.py)."""

import gc
import subprocess
import sys
import textwrap

import yaml

from qmoe_cli import imports, workers

from .conftest import ROOT, TINY


def test_heavy_imports_pause_then_freeze_and_resume():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with imports.heavy_imports():
        assert not gc.isenabled()
        made = [[] for _ in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(made)


def test_heavy_imports_leave_a_disabled_collector_disabled():
    gc.disable()
    try:
        with imports.heavy_imports():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_worker_resumes_the_collector_at_its_first_call():
    imports.pause()  # as _init_worker does
    try:
        assert workers._run_call(1, 0, gc.isenabled, ()) is True
        assert gc.get_freeze_count() > 0
    finally:
        gc.enable()


def test_train_imports_its_libraries_without_a_full_collection(tmp_path):
    """Counted in a fresh process: a one-seed train used to run five full collections over
    torch's and scikit-learn's objects while importing them (0.4 s)."""
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(TINY))
    script = textwrap.dedent(
        f"""
        import gc, sys
        full = []
        gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2
                            and full.append(len(sys.modules)))
        from qmoe_cli.cli import app
        try:
            app(["train", {str(config)!r}, "--out", {str(tmp_path / "runs")!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert "torch" in sys.modules and "sklearn" in sys.modules
        print(len(full))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) <= 1


def test_a_sweep_file_is_validated_and_refused_without_torch(tmp_path):
    """`qmoe validate SWEEP` and a bad sweep file given to `qmoe sweep` answer before torch
    and scikit-learn are imported (2.5 s before; they come once points run)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "kind": "sweep",
                "base": str(ROOT / "configs/two_moons_linear.yaml"),
                "grid": {"train.epochs": [2, 2]},
            }
        )
    )
    script = textwrap.dedent(
        f"""
        import sys
        from qmoe_cli.cli import app
        codes = []
        for args in (["validate", "configs/sweeps/two_moons_quantum_grid.yaml"],
                     ["sweep", {str(bad)!r}, "--out", {str(tmp_path / "out")!r}]):
            try:
                app(args)
            except SystemExit as exc:
                codes.append(exc.code)
        print(codes, sorted(m for m in ("torch", "sklearn") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[0, 2] []"
    assert "given twice" in done.stderr
