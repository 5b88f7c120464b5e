"""Bad config input found by fault hunting: each gets one exact `error:` line and exit 2
through the CLI, never a traceback or a run that ignores what the config says."""

import os
import re
import subprocess
import sys
import time

import pytest
import yaml

from qmoe_cli.config import MAX_YAML_VALUES, read_yaml

from .conftest import TINY

QUANTUM = {
    **TINY,
    "model": {
        "router": {"type": "quantum", "qubits": 2, "layers": 1},
        "experts": {"count": 2},
    },
}


def _with_noise(base: dict, **noise) -> dict:
    model = {**base["model"], "router": {**base["model"]["router"], "noise": noise}}
    return {**base, "model": model}


NOISE_SWEEP = {**_with_noise(QUANTUM), "kind": "noise-sweep", "levels": [0.0, 0.01]}


def one_error(result) -> str:
    """The single `error:` line of a failed command (exit 2), without its prefix."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0].removeprefix("error: ")


def _text_config(write_config, body: str, name="cfg.yaml"):
    return write_config(text=body, name=name)


# --------------------------------------------------------------------------- 1 fake_backend

# the device list follows the installed qiskit-ibm-runtime: match its shape, not its names
FAKE_NOPE = (
    r"model\.router\.noise\.fake_backend: 'FakeNope' is not a fake device of "
    r"qiskit_ibm_runtime\.fake_provider \(\d+ devices; did you mean Fake\w+(, Fake\w+)*\?\)"
)


@pytest.mark.parametrize("base", [QUANTUM, NOISE_SWEEP], ids=["train", "noise-sweep"])
def test_unknown_fake_backend_is_a_validation_error_with_suggestions(write_config, cli, base):
    path = write_config(_with_noise(base, fake_backend="FakeNope"))
    assert re.fullmatch(re.escape(f"{path}: ") + FAKE_NOPE, one_error(cli("validate", path)))


def test_fake_backend_suggestion_ignores_case(write_config, cli):
    path = write_config(_with_noise(NOISE_SWEEP, fake_backend="fakemanilav2"))
    line = one_error(cli("validate", path))
    assert line.startswith(
        f"{path}: model.router.noise.fake_backend: 'fakemanilav2' is not a fake device of "
        "qiskit_ibm_runtime.fake_provider ("
    )
    assert "did you mean FakeManilaV2" in line


def test_fake_backend_without_a_close_name_gives_an_example(write_config, cli):
    path = write_config(_with_noise(NOISE_SWEEP, fake_backend="Zzz"))
    assert re.fullmatch(
        re.escape(
            f"{path}: model.router.noise.fake_backend: 'Zzz' is not a fake device of "
            "qiskit_ibm_runtime.fake_provider ("
        )
        + r"\d+ devices; e\.g\. Fake\w+\)",
        one_error(cli("validate", path)),
    )


def test_fake_backend_is_rejected_by_train_not_silently_ignored(write_config, cli, tmp_path):
    path = write_config(_with_noise(QUANTUM, fake_backend="FakeManilaV2"))
    result = cli("train", path, "--out", tmp_path / "runs")
    assert one_error(result) == (
        f"{path}: model.router.noise.fake_backend: a fake device is evaluated only by "
        "`qmoe noise-sweep` (mode: evaluate), not by `qmoe train`; remove it"
    )
    assert not (tmp_path / "runs").exists()
    # a noise sweep in mode evaluate takes it
    ok = cli("validate", write_config(_with_noise(NOISE_SWEEP, fake_backend="FakeManilaV2")))
    assert ok.exit_code == 0, ok.output


AER_REFUSED = (
    "qiskit-aer gives no gradients, so it cannot train; train with torch, pennylane or "
    "lightning (Aer evaluates trained circuits: `qmoe noise-sweep --simulator qiskit-aer`, "
    "`qmoe hardware --target aer`)"
)
NO_NOISE = "does not simulate noise in qmoe; noisy circuits train with backend torch"
QUANTUM_EXPERTS = {"type": "quantum", "count": 2, "qubits": 2, "layers": 1}


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {**QUANTUM, "model": {**QUANTUM["model"], "router": {**QUANTUM["model"]["router"],
                "backend": "qiskit-aer"}}},
            f"model.router.backend: {AER_REFUSED}",
        ),
        (
            {**TINY, "model": {"router": {"type": "linear"},
                "experts": {**QUANTUM_EXPERTS, "backend": "qiskit-aer"}}},
            f"model.experts.backend: {AER_REFUSED}",
        ),
        (
            _with_noise({**QUANTUM, "model": {**QUANTUM["model"], "router": {
                **QUANTUM["model"]["router"], "backend": "lightning"}}}, depolarizing=0.01),
            f"model.router.backend: lightning {NO_NOISE}",
        ),
        (  # a quantum router's noise reaches the experts' circuits too
            _with_noise({**QUANTUM, "model": {**QUANTUM["model"],
                "experts": {**QUANTUM_EXPERTS, "backend": "pennylane"}}}, readout_error=0.01),
            f"model.experts.backend: pennylane {NO_NOISE}",
        ),
        (  # a train-mode noise sweep trains at every level
            {**NOISE_SWEEP, "mode": "train", "model": {**NOISE_SWEEP["model"], "router": {
                **NOISE_SWEEP["model"]["router"], "backend": "pennylane"}}},
            f"model.router.backend: pennylane {NO_NOISE}",
        ),
    ],
)  # fmt: skip
def test_validation_refuses_the_backends_training_would_refuse(
    write_config, cli, tmp_path, config, message
):
    """`validate` passed `backend: qiskit-aer`, which `train` then refused without naming
    the file: both now refuse it the same way, before anything is written."""
    path = write_config(config)
    assert one_error(cli("validate", path)) == f"{path}: {message}"
    command = config.get("kind", "train")
    assert one_error(cli(command, path, "--out", tmp_path / "runs")) == f"{path}: {message}"
    assert not (tmp_path / "runs").exists()


def test_an_evaluate_mode_noise_sweep_trains_noiseless_on_any_trainable_backend(write_config, cli):
    router = {**NOISE_SWEEP["model"]["router"], "backend": "lightning"}
    config = {**NOISE_SWEEP, "model": {**NOISE_SWEEP["model"], "router": router}}
    result = cli("validate", write_config(config))
    assert result.exit_code == 0, result.output


def test_repeated_efficiency_thresholds_are_refused(write_config, cli):
    config = {
        **{k: v for k, v in TINY.items() if k != "model"},
        "kind": "efficiency",
        "thresholds": [0.9, 0.9],
        "variants": {"A": {"router": {"type": "linear"}}},
    }
    message = one_error(cli("validate", write_config(config)))
    assert message.endswith("thresholds: give distinct accuracy thresholds"), message


@pytest.mark.parametrize("seeds", ["0,,1", "0,1,", ",0", "0,x"])
def test_seeds_with_an_empty_or_bad_item_are_refused(write_config, cli, seeds):
    message = one_error(cli("validate", write_config(), "--seeds", seeds))
    assert message == f"--seeds: expected comma-separated integers, got {seeds!r}"


# --------------------------------------------------------------------------- 2 non-finite


@pytest.mark.parametrize(
    "body, key",
    [
        ("train: {lr: .nan}", "train.lr"),
        ("train: {weight_decay: .inf}", "train.weight_decay"),
        ("train: {min_delta: -.inf}", "train.min_delta"),
        ("model: {balance_weight: .nan}", "model.balance_weight"),
        ("data: {name: two_moons, noise: .inf}", "data.noise"),
        ("train: {epochs: .inf}", "train.epochs"),
        ("train: {lr: nan}", "train.lr"),  # a string YAML leaves alone: float('nan') reads it
    ],
)
def test_non_finite_numbers_are_rejected_naming_the_key(write_config, cli, body, key):
    path = _text_config(write_config, f"kind: train\nseeds: [0]\n{body}\n")
    assert one_error(cli("validate", path)) == f"{path}: {key}: must be a finite number"


def test_non_finite_number_in_a_list_names_the_item(write_config, cli):
    raw = {**NOISE_SWEEP, "levels": [0.0, float("nan")]}
    path = write_config(raw)
    assert one_error(cli("validate", path)) == f"{path}: levels[1]: must be a finite number"


def test_non_finite_override_is_rejected(write_config, cli):
    path = write_config(TINY)
    result = cli("validate", path, "--set", "train.weight_decay=.inf")
    assert one_error(result) == f"{path}: train.weight_decay: must be a finite number"


# --------------------------------------------------------------------------- 3 strict numbers


@pytest.mark.parametrize(
    "body, message",
    [
        ("train: {epochs: true}", "train.epochs: must be an integer, not true"),
        ("train: {lr: false}", "train.lr: must be a number, not false"),
        ("model: {top_k: true, experts: {count: 2}}", "model.top_k: must be an integer, not true"),
        ("seeds: [0, true]", "seeds[1]: must be an integer, not true"),
        ("train: {epochs: 1e9}", "train.epochs: Input should be less than or equal to 100000"),
        (
            "train: {epochs: 2.5}",
            "train.epochs: Input should be a valid integer, got a number with a fractional part",
        ),
    ],
)
def test_numbers_are_strict(write_config, cli, body, message):
    text = f"kind: train\n{body}\n" + ("" if body.startswith("seeds") else "seeds: [0]\n")
    path = _text_config(write_config, text)
    assert one_error(cli("validate", path)) == f"{path}: {message}"


def test_yaml_1_2_numbers_are_numbers(write_config, cli):
    text = "kind: train\nseeds: [0]\ntrain: {epochs: 1e3, lr: 1e-3, weight_decay: 1E-4}\n"
    result = cli("validate", _text_config(write_config, text))
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output.rsplit("\n#", 1)[0])
    assert resolved["train"]["epochs"] == 1000 and isinstance(resolved["train"]["epochs"], int)
    assert resolved["train"]["lr"] == 0.001 and resolved["train"]["weight_decay"] == 0.0001
    over = cli("validate", write_config(TINY), "--set", "train.epochs=1e9")
    assert one_error(over).endswith("train.epochs: Input should be less than or equal to 100000")


# --------------------------------------------------------------------------- 4 files


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_config_file_is_an_error(write_config, cli, text):
    path = _text_config(write_config, text)
    assert one_error(cli("train", path)) == f"config file is empty: {path}"


def test_duplicate_key_is_an_error_naming_key_and_lines(write_config, cli):
    text = "kind: train\ntrain:\n  epochs: 3\n  lr: 0.1\n  epochs: 4\n"
    path = _text_config(write_config, text)
    assert one_error(cli("validate", path)) == (
        f"{path}: not valid YAML (line 5, column 3: duplicate key 'epochs', first given on line 3)"
    )


def test_merge_keys_may_override_what_they_merge(write_config, cli):
    text = (
        "kind: train\nseeds: [0]\nbase: &b {epochs: 3, lr: 0.1}\n"  # base: unknown key
        "train:\n  <<: *b\n  epochs: 4\n"
    )
    path = _text_config(write_config, text)
    assert one_error(cli("validate", path)) == f"{path}: base: unknown key"


def test_duplicate_key_in_an_override(write_config, cli):
    result = cli("validate", write_config(TINY), "--set", "model.router={type: mlp, type: linear}")
    assert one_error(result) == (
        "bad override 'model.router={type: mlp, type: linear}': value is not valid YAML "
        "(line 1, column 13: duplicate key 'type', first given on line 1)"
    )


def test_config_larger_than_1_mb_is_refused_at_once(write_config, cli):
    path = _text_config(write_config, "kind: train\n" + "# padding\n" * 100_001)
    size = path.stat().st_size
    start = time.perf_counter()
    message = one_error(cli("validate", path))
    assert time.perf_counter() - start < 5
    assert message == f"config file {path}: too large ({size} bytes; the limit is 1 MB)"


def test_a_config_that_is_a_device_is_refused_without_reading_it(tmp_path, cli):
    """A symlink to /dev/zero has size 0 and never ends: refused before a byte is read
    (it grew until the out-of-memory killer stopped it)."""
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    start = time.perf_counter()
    message = one_error(cli("validate", link))
    assert time.perf_counter() - start < 5
    assert message == f"config file {link}: a character device, not a regular file"


def test_a_config_that_is_a_pipe_is_refused_not_read_as_empty(tmp_path, cli):
    """A named pipe would block on open and a process substitution (<(cat cfg.yaml)) was
    read as empty: both are named for what they are."""
    fifo = tmp_path / "cfg.yaml"
    os.mkfifo(fifo)
    message = one_error(cli("validate", fifo))  # returns: nothing opened the pipe
    assert message == f"config file {fifo}: a pipe, not a regular file"


def test_a_file_that_grows_past_its_stat_is_still_capped(tmp_path, monkeypatch):
    """The cap is on what is read, not on the size stat() reported."""
    from qmoe_cli import files

    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 100)
    with pytest.raises(files.Refused, match="100 bytes; the limit is 99 bytes"):
        files.read_bytes(path, 99)
    assert files.read_bytes(path, 100) == b"x" * 100


def test_process_substitution_is_refused_in_a_real_shell(tmp_path):
    import shutil

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    config = tmp_path / "cfg.yaml"
    config.write_text("kind: train\n")
    done = subprocess.run(
        [bash, "-c", f'"{sys.executable}" -m qmoe_cli.cli validate <(cat {config})'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "a pipe, not a regular file" in done.stderr and "empty" not in done.stderr


BILLION_LAUGHS = "kind: train\n" + "".join(
    f"{a}: &{a} [{', '.join([f'*{p}' if p else '1'] * 9)}]\n"
    for p, a in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_billion_laughs_fails_fast(write_config, cli):
    path = _text_config(write_config, BILLION_LAUGHS)
    start = time.perf_counter()
    message = one_error(cli("validate", path))
    assert time.perf_counter() - start < 5
    assert message == (
        f"{path}: the YAML holds more than {MAX_YAML_VALUES} values once its aliases are "
        "expanded (the limit)"
    )


def test_recursive_alias_and_deep_nesting(write_config, cli):
    path = _text_config(write_config, "kind: train\nseeds: &s [0, *s]\n")
    assert one_error(cli("validate", path)) == (
        f"{path}: a YAML alias refers to a node that contains it"
    )
    deep = _text_config(write_config, "kind: train\nx: " + "[" * 5000 + "]" * 5000 + "\n", "d.yaml")
    assert one_error(cli("validate", deep)).startswith(f"{deep}: ")


def test_aliases_within_the_limit_still_work(write_config):
    text = "kind: train\nmodel: &m {router: {type: linear}}\n"
    assert read_yaml(_text_config(write_config, text))["model"] == {"router": {"type": "linear"}}


# --------------------------------------------------------------------------- 5 sweep grids


def _sweep(tmp_path, **sweep):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"kind": "sweep", "name": "s", "base": "base.yaml", **sweep}))
    return path


@pytest.mark.parametrize(
    "sweep, message",
    [
        (
            {"grid": {"train.epochs": [2, 2]}},
            "grid: train.epochs: value 2 is given twice ([0] and [1]); give distinct values",
        ),
        (
            {"grid": {"train.lr": [0.1, 0.2, 0.1]}},
            "grid: train.lr: value 0.1 is given twice ([0] and [2]); give distinct values",
        ),
        (
            {"grid": {"train.epochs": [2, 2.0]}},
            "grid: train.epochs: value 2.0 is given twice ([0] and [1]); give distinct values",
        ),
        (
            {"zip": {"train.epochs": [2, 3, 2], "train.lr": [0.1, 0.2, 0.1]}},
            "zip: point [2] (train.epochs=2, train.lr=0.1) repeats point [0]; give distinct points",
        ),
    ],
)
def test_repeated_sweep_values_are_rejected(tmp_path, cli, sweep, message):
    path = _sweep(tmp_path, **sweep)
    assert one_error(cli("validate", path)) == f"{path}: {message}"


def test_zip_may_repeat_a_value_in_distinct_points(tmp_path, cli):
    path = _sweep(tmp_path, zip={"train.epochs": [2, 2], "train.lr": [0.1, 0.2]})
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
