import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmoe_cli.config import (
    ExperimentConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_override,
    validate_config,
)
from qmoe_cli.errors import ConfigError

from .conftest import TINY, run_qmoe


def test_example_configs_validate(cli):
    for name in ("two_moons_linear", "two_moons_mlp"):
        result = cli("validate", f"configs/{name}.yaml")
        assert result.exit_code == 0, result.output
        assert f"name: {name}" in result.output


def test_defaults_fill_every_section():
    cfg = validate_config({})
    assert cfg.data.name == "two_moons" and cfg.train.lr == 0.01 and cfg.model.experts.count == 2
    assert validate_config(yaml.safe_load(dump_config(cfg))) == cfg  # dump round-trips


def test_override_parses_yaml_values_and_creates_paths():
    raw = apply_overrides(
        TINY,
        [
            "train.epochs=5",
            "model.router={type: mlp}",
            "model.router.hidden=[8, 4]",
            "data.noise=0.2",
        ],
    )
    cfg = validate_config(raw)
    assert cfg.train.epochs == 5 and cfg.model.router.hidden == [8, 4] and cfg.data.noise == 0.2
    assert TINY["train"]["epochs"] == 3  # the original mapping is untouched


def test_name_defaults_to_file_stem(write_config):
    data = dict(TINY)
    del data["name"]
    assert load_config(write_config(data, name="my-exp.yaml")).name == "my-exp"


@pytest.mark.parametrize(
    "text, overrides, needle",
    [
        ({**TINY, "bogus": 1}, [], "bogus: unknown key"),
        ({**TINY, "train": {"epochs": "many"}}, [], "train.epochs"),
        (TINY, ["train.epochs=0"], "train.epochs"),
        (TINY, ["model.router.hidden=[4]"], "model.router.hidden: unknown key"),
        (TINY, ["model.router.type=quantumish"], "model.router.type"),
        (TINY, ["model.experts.count=1"], "model.experts.count"),
        (TINY, ["seeds=[]"], "seeds"),
        (TINY, ["name=../escape"], "name"),
        (TINY, ["data.factor=0.3"], "'factor' does not apply to dataset 'two_moons'"),
        (TINY, ["train.momentum=0.9"], "momentum"),
        (TINY, ["epochs"], "bad override 'epochs'"),
        (TINY, ["train..epochs=3"], "bad override"),
        (TINY, ["train.epochs.x=3"], "'train.epochs' is not a mapping"),
        (TINY, ["train.epochs=[1"], "not valid YAML"),
        (TINY, ["train.epochs=true"], "train.epochs: must be an integer, not true"),
        (TINY, ["train.lr=.nan"], "train.lr: must be a finite number"),
    ],
)
def test_bad_configs_exit_2_with_one_line(write_config, cli, text, overrides, needle):
    path = write_config(text)
    args = ["validate", path]
    for o in overrides:
        args += ["--set", o]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert needle in lines[0]


def test_missing_and_unreadable_files(tmp_path, cli, write_config):
    cases = [
        (tmp_path / "nope.yaml", "config file not found"),
        (tmp_path, "a folder, not a file"),
        (write_config(text="a: [1, 2\nb: 3\n", name="broken.yaml"), "not valid YAML (line"),
        (write_config(text="- 1\n- 2\n", name="list.yaml"), "top level must be a mapping"),
    ]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    cases.append((bad, "not UTF-8"))
    for path, needle in cases:
        result = cli("train", path)
        assert result.exit_code == 2, (path, result.output)
        assert len(result.output.strip().splitlines()) == 1 and needle in result.output, (
            result.output
        )


def test_cli_subprocess_error_is_one_line_without_traceback(write_config):
    path = write_config({**TINY, "train": {"lr": "fast"}})
    proc = run_qmoe("train", path, "--set", "data.n_samples=200")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "train.lr" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_seeds_option(write_config, cli):
    result = cli("validate", write_config(), "--seeds", "3,4")
    assert result.exit_code == 0 and "- 3\n- 4" in result.output
    result = cli("validate", write_config(), "--seeds", "a,b")
    assert result.exit_code == 2 and "--seeds" in result.output


def test_parse_override_value_types():
    assert parse_override("a.b=0.5") == ("a.b", 0.5)
    # YAML 1.2 numbers: PyYAML alone would read 1e-3 and 1e3 as strings
    assert parse_override("a=1e-3") == ("a", 0.001)
    assert validate_config(apply_overrides({}, ["train.lr=1e-3"])).train.lr == 0.001
    assert validate_config(apply_overrides({}, ["train.epochs=1e3"])).train.epochs == 1000
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a=") == ("a", None)
    assert parse_override("a=x=y") == ("a", "x=y")


KEYS = [
    "name",
    "data",
    "model",
    "train",
    "seeds",
    "router",
    "experts",
    "type",
    "count",
    "lr",
    "epochs",
    "hidden",
    "n_samples",
    "noise",
    "scaling",
    "pca_components",
    "x",
    "1",
]
scalars = (
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=8)
)
garbage = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage)
def test_garbage_never_raises_anything_but_config_error(raw):
    try:
        cfg = validate_config(raw)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(cfg, ExperimentConfig)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_garbage_yaml_text_never_gives_a_traceback(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("g") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


# Keys of some datasets only (data/<name>.py declares them; DataConfig takes them from there).
ONLY_KEY_VALUES = {
    "n_samples": 100,
    "noise": 0.2,
    "factor": 0.3,
    "data_dir": "/x",
    "classes": [0, 1],
    "path": "/x/train.csv",
    "test_path": "/x/test.csv",
    "label_column": 0,
    "header": True,
    "n_features": 5,
    "task_seed": 3,
    "manifold_dimension": 2,
    "degree": 3,
    "offset": 0.5,
    "n_hyperplanes": 4,
    "dim_hyperplanes": 2,
    "margin": 0.2,
}


@pytest.mark.parametrize("key", sorted(ONLY_KEY_VALUES))
def test_a_dataset_key_applies_to_its_datasets_only(key):
    from qmoe_cli.config import DATASET_ONLY_KEYS, DATASETS

    assert set(DATASET_ONLY_KEYS) == set(ONLY_KEY_VALUES)
    for name in DATASETS:
        raw = {"data": {"name": name, key: ONLY_KEY_VALUES[key]}}
        if name in DATASET_ONLY_KEYS["path"] and key != "path":  # a user file needs a path
            raw["data"]["path"] = "/x/train.csv"
        if name in DATASET_ONLY_KEYS[key]:
            assert getattr(validate_config(raw).data, key) == ONLY_KEY_VALUES[key]
        else:
            with pytest.raises(ConfigError) as info:
                validate_config(raw)
            assert str(info.value) == f"config: data: '{key}' does not apply to dataset '{name}'"


def test_model_errors_name_the_key_without_the_union_tag():
    for raw, message in [
        ({"router": {"type": "mlp", "hidden": []}}, "model.router.hidden: an MLP router needs"),
        ({"router": {"type": "quantum", "qubits": 0}}, "model.router.qubits: Input should be"),
        ({"experts": {"count": 2000}}, "model.experts.count: Input should be less"),
        ({"experts": {"type": "linear", "bogus": 1}}, "model.experts.bogus: unknown key"),
    ]:
        with pytest.raises(ConfigError, match="config: " + re.escape(message)):
            validate_config({"model": raw})
