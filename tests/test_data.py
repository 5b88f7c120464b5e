import math

import numpy as np
import pytest

from qmoe_cli.config import DataConfig
from qmoe_cli.data import REGISTRY, load_dataset, split_and_preprocess
from qmoe_cli.errors import DataError


def test_registry_matches_config_choices():
    from typing import get_args

    assert set(REGISTRY) == set(get_args(DataConfig.model_fields["name"].annotation))


@pytest.mark.parametrize("name", ["two_moons", "circles"])
def test_split_sizes_and_stratification(name):
    s = load_dataset(DataConfig(name=name, n_samples=1000), seed=0)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (700, 100, 200)
    for y in (s.y_train, s.y_val, s.y_test):
        assert abs(y.mean() - 0.5) < 0.01  # the classes are balanced in every split
    assert s.n_features == 2 and s.n_classes == 2


def test_same_seed_same_split_other_seed_other_split():
    a, b = load_dataset(DataConfig(), 3), load_dataset(DataConfig(), 3)
    c = load_dataset(DataConfig(), 4)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.X_test, c.X_test)


def test_minmax_scaler_fitted_on_training_rows_only():
    s = load_dataset(DataConfig(n_samples=400, scaling="minmax_pi"), seed=1)
    # Training rows span exactly [0, pi]; held-out rows are scaled with the training fit,
    # so across seeds some of them fall outside (they would not if the scaler saw them).
    np.testing.assert_allclose(s.X_train.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.max(axis=0), math.pi, atol=1e-12)
    outside = 0
    for seed in range(10):
        t = load_dataset(DataConfig(n_samples=400), seed)
        held = np.vstack([t.X_val, t.X_test])
        outside += int((held < -1e-12).any() or (held > math.pi + 1e-12).any())
    assert outside > 0


def test_pca_and_scaler_see_only_training_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = np.arange(300) % 2
    cfg = DataConfig(n_samples=300, pca_components=2, scaling="standard")
    s = split_and_preprocess(X, y, cfg, seed=0, source="test")
    from sklearn.decomposition import PCA

    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.std(axis=0), 1.0, atol=1e-12)
    assert s.preprocessor.named_steps["pca"].n_samples_ == len(s.y_train)
    full = PCA(2).fit(X)
    assert not np.allclose(np.abs(full.components_), np.abs(s.preprocessor["pca"].components_))
    # A single poisoned test row must not change how the training rows are transformed.
    X2 = X.copy()
    test_rows = np.isin(np.arange(300), _rows_of(X, s.X_test, s.preprocessor))
    X2[test_rows] *= 1000.0
    s2 = split_and_preprocess(X2, y, cfg, seed=0, source="test")
    np.testing.assert_allclose(s.X_train, s2.X_train)


def _rows_of(X, transformed, pipe):
    """Indices of the raw rows whose transform is `transformed` (matching on the transform)."""
    t = pipe.transform(X)
    return [int(np.argmin(((t - row) ** 2).sum(axis=1))) for row in transformed]


def test_too_small_and_bad_pca_are_clear_errors():
    with pytest.raises(DataError, match="data.n_samples"):
        load_dataset(DataConfig(n_samples=20, test_fraction=0.05, val_fraction=0.05), 0)
    with pytest.raises(DataError, match="data.pca_components"):
        load_dataset(DataConfig(pca_components=3), 0)
