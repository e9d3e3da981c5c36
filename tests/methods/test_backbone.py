"""Backbone loading never downloads in tests: random init, weights files, a fake hub cache, a failing download."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from engine.methods.components import backbone
from engine.methods.components.backbone import (
    feature_maps,
    imagenet_normalize,
    load_backbone,
    pooled,
    save_backbone,
)

REAL_DOWNLOAD = backbone._download


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """An empty hub cache in tmp, a clean download record, and a `_download` that fails and logs its calls."""
    calls: list[str] = []

    def fail(url: str, target: Path, timeout: float) -> str:
        calls.append(url)
        return "URLError: no network in tests"

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(backbone, "_download_errors", {})
    monkeypatch.setattr(backbone, "_download", fail)
    return calls


def test_random_weights_need_no_message() -> None:
    model, info = load_backbone("resnet18", "random")
    assert (info.name, info.source, info.message) == ("resnet18", "random", "")
    assert info.feature_dim == 512
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 512)  # fc removed: pooled features


def test_unknown_backbone_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choose from.*resnet18"):
        load_backbone("resnet1000", "random")


def test_workbench_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained, _ = load_backbone("resnet18", "random")
    path = save_backbone(trained, tmp_path / "enc.pt", "resnet18", origin="test")
    loaded, info = load_backbone("resnet18", str(path))
    assert info.source == f"file:{path}" and info.message == ""
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_torchvision_state_dict_file_with_fc_loads(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    loaded, info = load_backbone("resnet18", str(tmp_path / "tv.pth"))
    assert info.source.startswith("file:")
    assert torch.equal(loaded.conv1.weight, reference.conv1.weight)


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
    path = save_backbone(small, tmp_path / "r18.pt", "resnet18", origin="test")
    _, info = load_backbone("wide_resnet50_2", str(path))
    assert info.source == "random" and "'resnet18' backbone" in info.message


def test_auto_uses_the_hub_cache_without_downloading(no_network: list[str]) -> None:
    from torchvision.models import resnet18

    reference = resnet18(weights=None)
    cached = backbone.cache_path("resnet18")
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    loaded, info = load_backbone("resnet18", "auto")
    assert info.source == "imagenet" and info.message == ""
    assert torch.equal(loaded.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    assert no_network == []


def test_failed_download_is_a_message_and_is_tried_once(no_network: list[str]) -> None:
    _, first = load_backbone("resnet18", "auto")
    _, second = load_backbone("wide_resnet50_2", "imagenet")
    assert first.source == second.source == "random"
    assert first.message.startswith("ImageNet weights for resnet18 not cached")
    assert "download failed (URLError: no network in tests)" in first.message
    assert "no download tried" in second.message
    assert len(no_network) == 1


def test_download_copies_a_local_url_and_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"weights")
    assert REAL_DOWNLOAD(source.as_uri(), tmp_path / "out" / "w.pth", timeout=5.0) is None
    assert (tmp_path / "out" / "w.pth").read_bytes() == b"weights"

    def hang(*args, **kwargs):
        time.sleep(3)
        raise OSError("unreachable")

    monkeypatch.setattr(backbone.urllib.request, "urlopen", hang)
    start = time.monotonic()
    error = REAL_DOWNLOAD("http://example.invalid/w.pth", tmp_path / "never.pth", timeout=0.3)
    assert error == "timed out after 0.3 s" and time.monotonic() - start < 2
    assert not (tmp_path / "never.pth").exists()


def test_feature_maps_handle_grayscale_and_strides() -> None:
    model, _ = load_backbone("resnet18", "random")
    model.eval()
    gray = torch.rand(2, 1, 64, 64)
    maps = feature_maps(model, gray, ("layer1", "layer2", "layer3"))
    assert [tuple(m.shape) for m in maps.values()] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]
    torch.testing.assert_close(imagenet_normalize(gray), imagenet_normalize(gray.expand(-1, 3, -1, -1)))
    with torch.no_grad():
        deepest = feature_maps(model, gray, ("layer4",))["layer4"]
        torch.testing.assert_close(pooled(deepest), model(imagenet_normalize(gray)))
    with pytest.raises(ValueError, match="choose from"):
        feature_maps(model, gray, ("layer9",))
