"""A fitted method as one graph: prepared images (N, C, H, W) -> score (N,) and anomaly map (N, H, W), traced
from the method's own `predict` (so the file computes what `engine predict` computes), written as ONNX by
torch.onnx with a dynamic batch axis, or as OpenVINO IR converted from that ONNX file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from engine.methods.base import BaseMethod

# Methods whose `predict` is one traceable graph: a backbone and a closed-form head, with no optimisation per
# image (AnoGAN's latent search), no autograd (Grad-CAM maps) and no Python loop over the batch.
EXPORTABLE = ("padim", "patchcore")
FORMATS = ("onnx", "openvino")
INPUT = "images"
OUTPUTS = ("score", "anomaly_map")
OPSET = 18  # the first with Resize's antialias (a backbone input resized down)


class UnsupportedExport(ValueError):
    """A method or format that cannot be exported; the message is one sentence with the choices."""


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnsupportedExport(f"unknown export format {fmt!r}; choose from {list(FORMATS)}")


def check_exportable(method_key: str) -> None:
    """Refuse, in one sentence, a method without export support."""
    if method_key not in EXPORTABLE:
        raise UnsupportedExport(
            f"method {method_key!r} cannot be exported: its scoring is not one traceable graph; runs of "
            f"{', '.join(EXPORTABLE)} can"
        )


def check_graph(method: BaseMethod) -> None:
    """Refuse a method that cannot be one graph: one without export support, or one fitted on tiles."""
    check_exportable(method.key)
    if getattr(method, "tiler", None) is not None:
        raise UnsupportedExport(
            f"this {method.key} model scores images through {method.tiler.tile} px tiles stitched back together, "
            "which one graph cannot hold; runs on whole images can be exported"
        )


class ScoringGraph(nn.Module):
    """`method.predict` as a module returning (score (N,), anomaly_map (N, H, W)); the method's modules are
    registered as submodules so that their weights become the graph's."""

    def __init__(self, method: BaseMethod) -> None:
        super().__init__()
        self.method = method
        self.parts = nn.ModuleDict({k: v for k, v in vars(method).items() if isinstance(v, nn.Module)})

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        pred = self.method.predict(images)  # (N, C, H, W) -> score (N,), anomaly_map (N, H, W)
        return pred.score, pred.anomaly_map


def export_onnx(method: BaseMethod, image_shape: tuple[int, int, int], path: Path) -> Path:
    """Write `method` (fitted, on the CPU) as an ONNX graph taking float32 images of `image_shape` (C, H, W)
    with any batch size. Weights over ONNX's 2 GB limit go to a `.data` file beside `path`."""
    check_graph(method)
    graph = ScoringGraph(method).eval()
    example = torch.rand(2, *image_shape, generator=torch.Generator().manual_seed(0))  # (2, C, H, W)
    with torch.no_grad():
        program = torch.onnx.export(
            graph,
            (example,),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    program.save(str(path))
    return Path(path)


def export_openvino(onnx_path: Path, path: Path) -> Path:
    """Convert an exported ONNX graph to OpenVINO IR: `path` (.xml) and its weights beside it (.bin), float32."""
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(path), compress_to_fp16=False)
    return Path(path)
