import numpy as np
import pytest

from dashboard.projection import embedding_map, pca_2d, project_2d


def test_tsne_separates_two_clusters_and_repeats_with_the_seed():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (15, 6)), rng.normal(5, 0.1, (15, 6))])
    coords, method = project_2d(points, seed=0)
    assert method == "t-SNE" and coords.shape == (30, 2) and np.isfinite(coords).all()
    a, b = coords[:15].mean(0), coords[15:].mean(0)
    spread = max(coords[:15].std(0).max(), coords[15:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread
    again, _ = project_2d(points, seed=0)
    assert np.allclose(coords, again)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_few_points_fall_back_to_pca(n):
    coords, method = project_2d(np.arange(n * 3, dtype=float).reshape(n, 3))
    assert method == "PCA" and coords.shape == (n, 2) and np.isfinite(coords).all()


def test_identical_points_do_not_make_nan():
    coords, method = project_2d(np.ones((8, 4)))
    assert method == "PCA" and np.allclose(coords, 0)
    assert np.allclose(pca_2d(np.ones((3, 1))), 0)


def test_embedding_map_places_train_sample_and_centroid_with_the_test_points():
    rng = np.random.default_rng(1)
    test = rng.normal(size=(10, 64))  # wider than 50: reduced by PCA first
    train = rng.normal(size=(6, 64))
    emap = embedding_map(
        test,
        train,
        train.mean(0),
        tuple(f"t{i}" for i in range(10)),
        np.array([0, 1] * 5),
        ("good", "x") * 5,
        np.arange(10.0),
    )
    assert emap.test.shape == (10, 2) and emap.train.shape == (6, 2) and emap.centroid.shape == (2,)
    assert emap.method == "t-SNE" and emap.names[3] == "t3"
    wrong = embedding_map(
        test[:3], np.ones((2, 5)), np.ones(7), ("a", "b", "c"), np.zeros(3), ("g",) * 3, np.zeros(3)
    )
    assert wrong.train.shape == (0, 2) and wrong.centroid is None and wrong.method == "PCA"
