"""2-D maps of embeddings for the Embeddings page: openTSNE t-SNE (PCA for fewer than 5 points)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TSNE_POINTS = 5
MAX_INPUT_DIMS = 50  # embeddings wider than this are reduced by PCA first (the usual t-SNE practice)
# One thread: openTSNE's threads wait for each other every iteration, and on a busy 2-core machine (the app
# beside a training worker) 2 threads measured 2-10x slower than 1 (see benchmarks/dashboard_perf.py).
TSNE_THREADS = 1
FFT_FROM_POINTS = 2000
# Exact neighbours: for 5,000 64-D points 0.3 s against 1.5 s for Annoy (openTSNE's "auto" choice); the
# exact search grows with N squared, so Annoy takes over for larger sets.
EXACT_NEIGHBOURS_UP_TO = 10_000
# Iterations after the early exaggeration phase (openTSNE's default is 500). Measured on 5,000 64-D points
# in two clusters, one thread: 500 iterations 10.5 s, KL 3.600; 350 with a coarser FFT grid 6.8 s, KL 3.623.
TSNE_ITERATIONS = 350


@dataclass(frozen=True)
class EmbeddingMap:
    """2-D coordinates of a run's test images, a sample of its normal training images and the centroid."""

    test: np.ndarray  # (N, 2)
    train: np.ndarray  # (M, 2), M may be 0
    centroid: np.ndarray | None  # (2,)
    names: tuple[str, ...]
    labels: np.ndarray  # (N,)
    defect_types: tuple[str, ...]
    scores: np.ndarray  # (N,)
    method: str = "t-SNE"  # or "PCA"


def pca_2d(points: np.ndarray) -> np.ndarray:
    """(N, 2) principal-component coordinates (zeros where there is no spread)."""
    x = np.asarray(points, dtype=np.float64)
    out = np.zeros((x.shape[0], 2))
    if x.shape[0] < 2:
        return out
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    coords = x @ vt[:2].T  # (N, <=2)
    out[:, : coords.shape[1]] = coords
    return out


def project_2d(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """(N, 2) t-SNE coordinates of (N, D) points (openTSNE) and "t-SNE"; PCA coordinates and
    "PCA" for fewer than 5 points or points without spread."""
    x = np.asarray(points, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"points must be (N, D); got shape {x.shape}")
    n = x.shape[0]
    if n < MIN_TSNE_POINTS or float(np.ptp(x, axis=0).max(initial=0.0)) < 1e-12:
        return pca_2d(x), "PCA"
    if x.shape[1] > MAX_INPUT_DIMS:
        x = pca_2d_many(x, MAX_INPUT_DIMS)
    from openTSNE import TSNE

    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    fft = n >= FFT_FROM_POINTS
    embedding = TSNE(
        perplexity=perplexity,
        n_iter=TSNE_ITERATIONS,
        n_jobs=TSNE_THREADS,
        random_state=seed,
        neighbors="exact" if n <= EXACT_NEIGHBOURS_UP_TO else "auto",
        # FFT interpolation from a few thousand points on (openTSNE's "auto" waits until 10,000): 5,000
        # points took 24 s with it against 32 s with Barnes-Hut on a busy 2-core machine. Two grid intervals
        # per unit instead of one: about 10% faster, the layout looks the same.
        negative_gradient_method="fft" if fft else "bh",
        ints_in_interval=2 if fft else 1,
        verbose=False,
    ).fit(x)
    coords = np.asarray(embedding, dtype=np.float64)
    return (coords, "t-SNE") if np.isfinite(coords).all() else (pca_2d(x), "PCA")


def pca_2d_many(x: np.ndarray, dims: int) -> np.ndarray:
    """(N, dims) leading principal components of (N, D) points."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:dims].T).astype(np.float32)


def embedding_map(
    test_embeddings: np.ndarray,
    train_embeddings: np.ndarray | None,
    centroid: np.ndarray | None,
    names: tuple[str, ...],
    labels: np.ndarray,
    defect_types: tuple[str, ...],
    scores: np.ndarray,
    seed: int = 0,
) -> EmbeddingMap:
    """Map test points, training sample and centroid together, so the centroid lands among its neighbours."""
    test = np.asarray(test_embeddings, dtype=np.float32)
    parts = [test]
    train = (
        np.zeros((0, test.shape[1]), np.float32) if train_embeddings is None else np.asarray(train_embeddings)
    )
    if train.ndim == 2 and train.shape[1] == test.shape[1]:
        parts.append(train.astype(np.float32))
    else:
        train = np.zeros((0, test.shape[1]), np.float32)
    has_centroid = centroid is not None and np.asarray(centroid).shape == (test.shape[1],)
    if has_centroid:
        parts.append(np.asarray(centroid, dtype=np.float32)[None])
    points = np.concatenate(parts)
    coords, method = project_2d(points, seed)
    n, m = len(test), len(train)
    return EmbeddingMap(
        test=coords[:n],
        train=coords[n : n + m],
        centroid=coords[n + m] if has_centroid else None,
        names=tuple(names),
        labels=np.asarray(labels),
        defect_types=tuple(defect_types),
        scores=np.asarray(scores, dtype=np.float64),
        method=method,
    )
