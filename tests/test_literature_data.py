"""The QML literature's generators (Bowles, Ahmed & Schuld 2024): each one's defining
property, its keys, determinism, and the split every dataset gets."""

import numpy as np
import pytest

from qmoe_cli.config import ExperimentConfig, validate_config
from qmoe_cli.data import (
    REGISTRY,
    DataConfig,
    hidden_manifold,
    hyperplanes_parity,
    linearly_separable,
    load_dataset,
    n_input_features,
    two_curves,
)
from qmoe_cli.data.literature import rngs
from qmoe_cli.errors import ConfigError, DataError

GENERATORS = ["hidden_manifold", "two_curves", "hyperplanes_parity", "linearly_separable"]


def raw(name, **kw):
    return DataConfig(name=name, **kw)


@pytest.mark.parametrize("name", GENERATORS)
def test_shape_balance_determinism_and_split(name):
    cfg = raw(name, n_samples=301, n_features=7)
    X, y, source = REGISTRY[name](cfg, 0)
    assert X.shape == (301, 7) and np.isfinite(X).all()
    assert (y == 1).sum() == 150 and (y == 0).sum() == 151  # exactly balanced
    assert "2403.07059" in source and "task_seed=0" in source
    a, b, c = load_dataset(cfg, 3), load_dataset(cfg, 3), load_dataset(cfg, 4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.n_features == 7 and a.n_classes == 2
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 301
    # the width is a key: known at validation, so a too-small quantum router is refused
    assert n_input_features(cfg) == 7
    with pytest.raises(ConfigError, match="model.router.qubits"):
        validate_config(
            {
                "data": {"name": name, "n_features": 7},
                "model": {"router": {"type": "quantum", "qubits": 4, "layers": 1}},
            }
        )


@pytest.mark.parametrize("name", GENERATORS)
def test_task_seed_fixes_the_task_and_the_run_seed_draws_the_rows(name):
    """Two run seeds on one task_seed: the same labelling rule (a classifier fitted on one
    seed's rows does well on the other's); another task_seed: another rule."""
    from sklearn.neighbors import KNeighborsClassifier

    reg = REGISTRY
    kw = {"n_samples": 1500, "n_features": 8}
    if name == "hidden_manifold":
        kw["manifold_dimension"] = 2
    X0, y0, _ = reg[name](raw(name, **kw), 0)
    X1, y1, _ = reg[name](raw(name, **kw), 1)
    assert not np.array_equal(X0, X1)
    knn = KNeighborsClassifier(5).fit(X0, y0)
    same = knn.score(X1, y1)
    X2, y2, _ = reg[name](raw(name, task_seed=5, **kw), 1)
    assert same > 0.8
    assert not np.allclose(X2[:10], X1[:10])


def test_hidden_manifold_rows_lie_on_the_manifold_and_labels_follow_the_latents():
    cfg = raw("hidden_manifold", n_samples=400, n_features=10, manifold_dimension=3)
    task_rng, rng = rngs(cfg, 0)
    task = hidden_manifold.make_task(10, 3, task_rng)
    X, y, C = hidden_manifold.generate(task, 400, 0.0, rng)
    # x = tanh(c F / sqrt(m) - b): undoing the non-linearity gives rank m
    linear = np.arctanh(X) + task["b"]
    assert np.linalg.matrix_rank(linear, tol=1e-8) == 3
    np.testing.assert_allclose(linear, C @ task["F"] / np.sqrt(3), atol=1e-8)
    # labels are a function of the latent coordinates alone
    np.testing.assert_array_equal(y, hidden_manifold.labels(task, C))
    # and the loader gives exactly these rows
    Xl, yl, _ = hidden_manifold.HiddenManifold.load(cfg, 0)
    np.testing.assert_array_equal(Xl, X)
    np.testing.assert_array_equal(yl, y)


def test_hidden_manifold_noise_takes_rows_off_the_manifold():
    cfg = raw("hidden_manifold", n_samples=200, n_features=10, manifold_dimension=3, noise=0.01)
    X, _, _ = hidden_manifold.HiddenManifold.load(cfg, 0)
    task = hidden_manifold.make_task(10, 3, rngs(cfg, 0)[0])
    assert np.linalg.matrix_rank(np.arctanh(np.clip(X, -0.999, 0.999)) + task["b"]) == 10


def test_two_curves_keep_their_offset():
    cfg = raw("two_curves", n_samples=200, n_features=6, degree=4, offset=0.3, noise=0.0)
    task_rng, rng = rngs(cfg, 0)
    coeffs = two_curves.make_task(6, 4, task_rng)
    assert np.isclose(np.linalg.norm(coeffs), 1.0)
    X, y, t = two_curves.generate(coeffs, 0.3, 200, 0.0, rng)
    # class 0 lies on the curve, class 1 on the same curve shifted by the offset everywhere
    np.testing.assert_allclose(X[y == 0], two_curves.curve(coeffs, t[y == 0]), atol=1e-12)
    np.testing.assert_allclose(X[y == 1] - 0.3, two_curves.curve(coeffs, t[y == 1]), atol=1e-12)
    # the curve is a Fourier series of the given degree: degree + 1 frequencies at most
    spectrum = np.abs(np.fft.rfft(two_curves.curve(coeffs, np.linspace(0, 2, 64, False)), axis=0))
    assert spectrum[5:].max() < 1e-10 < spectrum[4].max()
    Xl, yl, _ = two_curves.TwoCurves.load(cfg, 0)
    np.testing.assert_array_equal(Xl, X)


def test_two_curves_noise_is_the_key():
    cfg = raw("two_curves", n_samples=100)
    assert cfg.noise == 0.01 and cfg.degree == 5 and cfg.offset == 0.1 and cfg.n_features == 10
    assert raw("hidden_manifold").noise == 0.0


def test_hyperplanes_parity_labels_are_the_parity_of_the_sides():
    cfg = raw("hyperplanes_parity", n_samples=300, n_features=8, n_hyperplanes=4)
    task_rng, rng = rngs(cfg, 0)
    task = hyperplanes_parity.make_task(8, 4, 3, task_rng)
    X, y, Z = hyperplanes_parity.generate(task, 300, 0.0, rng)
    sides = (Z @ task["weights"].T + task["biases"]) > 0
    np.testing.assert_array_equal(y, sides.sum(axis=1) % 2)
    np.testing.assert_allclose(X, Z @ task["embedding"])  # a linear embedding of the latents
    assert np.linalg.matrix_rank(X) == 3
    # parity is not linearly separable: a linear classifier stays far from perfect
    from sklearn.svm import LinearSVC

    assert LinearSVC(C=10.0, max_iter=20_000).fit(X, y).score(X, y) < 0.9


def test_linearly_separable_is_separated_by_a_linear_svm_with_the_margin():
    from sklearn.svm import SVC

    cfg = raw("linearly_separable", n_samples=400, n_features=5, margin=0.2)
    X, y, _ = linearly_separable.LinearlySeparable.load(cfg, 0)
    assert np.abs(X).max() <= 1.0
    svm = SVC(kernel="linear", C=1e6).fit(X, y)
    assert svm.score(X, y) == 1.0
    normal = linearly_separable.make_task(5, rngs(cfg, 0)[0])
    assert np.abs(X @ normal).min() > 0.2  # no point inside the margin
    np.testing.assert_array_equal(y, (X @ normal > 0).astype(int))
    # on the split training rows too (the test)
    s = load_dataset(cfg, 1)
    assert SVC(kernel="linear", C=1e6).fit(s.X_train, s.y_train).score(s.X_train, s.y_train) == 1


def test_an_impossible_margin_is_one_clear_error():
    cfg = raw("linearly_separable", n_samples=100, n_features=2, margin=1.5)
    with pytest.raises(DataError, match=r"^data\.margin: class \d is too rare"):
        load_dataset(cfg, 0)


def test_keys_apply_to_their_generators_only():
    with pytest.raises(ConfigError, match="'manifold_dimension' does not apply to dataset"):
        validate_config({"data": {"name": "two_moons", "manifold_dimension": 3}})
    with pytest.raises(ConfigError, match="data.degree"):
        validate_config({"data": {"name": "two_curves", "degree": 0}})
    cfg = validate_config({"data": {"name": "hyperplanes_parity", "n_hyperplanes": 5}})
    assert isinstance(cfg, ExperimentConfig)
    assert (cfg.data.n_hyperplanes, cfg.data.dim_hyperplanes) == (5, 3)
    assert cfg.data.margin is None and cfg.data.path is None
