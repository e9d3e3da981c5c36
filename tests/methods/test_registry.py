"""Every registered method: smoke preset on tiny seeded data fits, predicts the right shapes, and repeats."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods import METHODS, get_method
from engine.methods.params import PRESETS, make_params, make_tiling
from engine.methods.progress import EpochLog
from tests.slow import SLOW_TO_FIT, marked_slow

SIZE = 32


def build(key: str, channels: int, seed: int = 0):
    cls = get_method(key)
    fields = {f.name for f in dataclasses.fields(cls.Params)}
    overrides = {"epochs": 1} if "epochs" in fields else {}
    return cls(make_params(cls, "smoke", overrides), image_shape=(channels, SIZE, SIZE), seed=seed)


def fit_and_predict(key: str, channels: int, make_images, seed: int = 0):
    method = build(key, channels, seed)
    train = make_loader(make_images(8, channels, SIZE, seed=1), batch_size=4, shuffle=True, seed=seed)
    anomalies = None
    if method.uses_labeled_anomalies:
        anomalies = make_loader(make_images(4, channels, SIZE, seed=2, anomalous=True), batch_size=4)
    logs: list[EpochLog] = []
    method.fit(train, anomalies, on_epoch=logs.append)
    test = torch.cat(
        [make_images(3, channels, SIZE, seed=3), make_images(3, channels, SIZE, seed=4, anomalous=True)]
    )
    return method, logs, test, method.predict(test)


@pytest.mark.parametrize("key", sorted(METHODS))
def test_registry_entry_is_consistent(key: str) -> None:
    cls = METHODS[key]
    assert cls.key == key
    own = set(PRESETS) - {"native"}  # native falls back to the cpu preset on tiles (params.preset_values)
    assert own <= set(cls.presets) <= set(PRESETS), f"{key}: presets must be {sorted(own)}, optionally native"
    for preset in PRESETS:
        make_params(cls, preset)  # every preset names real fields with valid values
        assert (make_tiling(cls, preset).tile > 0) == (preset == "native")  # only native tiles
    assert dataclasses.is_dataclass(cls.Params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cls.Params().__setattr__(dataclasses.fields(cls.Params)[0].name, None)


@pytest.mark.parametrize(
    ("key", "channels"),
    [  # every method at one channel in the inner loop; the slow ones' other channel count in CI
        pytest.param(k, c, marks=pytest.mark.slow) if c == 3 and k in SLOW_TO_FIT else (k, c)
        for k in sorted(METHODS)
        for c in (1, 3)
    ],
)
def test_smoke_fit_predict(key: str, channels: int, make_images) -> None:
    method, logs, test, pred = fit_and_predict(key, channels, make_images)
    pred.check(test)
    assert logs, f"{key}: fit() never called on_epoch"
    assert all(isinstance(log, EpochLog) and log.epoch <= log.epochs for log in logs)
    assert all(torch.isfinite(torch.tensor(v)) for log in logs for v in log.losses.values())
    assert logs[-1].epoch == logs[-1].epochs
    assert method.centroid is not None, f"{key}: fit() must set the centroid"
    assert method.centroid.shape == (pred.embedding.shape[1],)
    assert torch.isfinite(method.centroid).all()
    assert pred.score.dtype.is_floating_point and pred.anomaly_map.dtype.is_floating_point


# trains twice: the inner loop checks four quick methods, CI every one
@pytest.mark.parametrize(
    "key", marked_slow(METHODS, slow=set(METHODS) - {"autoencoder", "deep_svdd", "padim", "vae"})
)
def test_smoke_runs_repeat_with_the_same_seed(key: str, make_images) -> None:
    *_, first = fit_and_predict(key, 1, make_images, seed=0)
    *_, second = fit_and_predict(key, 1, make_images, seed=0)
    torch.testing.assert_close(first.score, second.score)
    torch.testing.assert_close(first.embedding, second.embedding)


def test_unknown_key_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choose from"):
        get_method("no_such_method")


@pytest.mark.slow  # a fresh interpreter importing the engine
def test_listing_methods_and_building_a_config_import_no_method():
    """What the dashboard's process does to fill the Train page (list keys, queue a RunConfig) loads no method
    module and none of their backbone libraries; looking one key up loads just that one."""
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys\n"
        "from engine.methods import METHODS\n"
        "from engine.runconfig import RunConfig\n"
        "import engine.jobs\n"
        "keys = list(METHODS)\n"
        "RunConfig('mnist', 'padim', 'cpu')\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[-1] in keys or m in ('timm', 'kornia'))\n"
        "print(len(keys), loaded())\n"
        "METHODS['vae']\n"
        "print(loaded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out[0] == "11 []"
    assert out[1] == "['engine.methods.vae']"
