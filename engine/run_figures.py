"""PNG pictures of a finished run for its MLflow record: the ROC curve and its most anomalous test images
beside their anomaly maps, so that someone browsing MLflow sees what happened without the dashboard."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from engine.artifacts import RunArrays

HEATMAPS = 4  # test images shown, highest scores first


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def roc_png(metrics: dict[str, Any], title: str) -> bytes | None:
    """The ROC curve with its AUROC, or None when the test set has one class only."""
    roc = metrics.get("roc")
    if not roc:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot(roc["fpr"], roc["tpr"], lw=2, label=f"AUROC {metrics.get('image_auroc', float('nan')):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    return _png(fig)


def heatmaps_png(arrays: RunArrays, images: Any = None) -> bytes | None:
    """The top-scored test images' anomaly maps (and their inputs when given), one column each."""
    order = np.argsort(-np.asarray(arrays.scores))[:HEATMAPS]
    if not len(order):
        return None
    from matplotlib.figure import Figure

    rows = 2 if images is not None else 1
    fig = Figure(figsize=(2.2 * len(order), 2.4 * rows))
    axes = fig.subplots(rows, len(order), squeeze=False)
    for col, i in enumerate(order):
        heat = axes[-1][col].imshow(np.asarray(arrays.anomaly_maps[i], dtype=np.float32), cmap="inferno")
        axes[-1][col].set_title(f"{arrays.defect_types[i]}\nscore {float(arrays.scores[i]):.3g}", fontsize=8)
        if images is not None:
            image = np.asarray(images[int(i)], dtype=np.float32).transpose(1, 2, 0).squeeze()  # (H, W[, C])
            axes[0][col].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        for ax in axes[:, col]:
            ax.set_axis_off()
    fig.colorbar(heat, ax=axes[-1].tolist(), shrink=0.8)
    return _png(fig)
