"""Running an exported graph outside PyTorch: onnxruntime for ONNX files, OpenVINO for IR files; each as a
function from a prepared float32 batch (N, C, H, W) to (scores (N,), anomaly maps (N, H, W))."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.model_export.graph import INPUT, OUTPUTS

Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def onnx_scorer(path: Path, threads: int = 0) -> Scorer:
    """Score with onnxruntime on the CPU; `threads` > 0 caps its intra-op threads (0 = its default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def score(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, maps = session.run(list(OUTPUTS), {INPUT: np.ascontiguousarray(batch, dtype=np.float32)})
        return scores, maps

    return score


def openvino_scorer(path: Path, threads: int = 0) -> Scorer:
    """Score with OpenVINO on the CPU in float32 (its CPU plugin would otherwise pick bf16 where it can)."""
    import openvino as ov

    config: dict[str, object] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    outputs = [compiled.output(name) for name in OUTPUTS]

    def score(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = compiled(np.ascontiguousarray(batch, dtype=np.float32))
        return result[outputs[0]], result[outputs[1]]

    return score


def scorer_for(fmt: str, path: Path, threads: int = 0) -> Scorer:
    """The runtime of an export format ("onnx" or "openvino") on the file at `path`."""
    return {"onnx": onnx_scorer, "openvino": openvino_scorer}[fmt](path, threads)
