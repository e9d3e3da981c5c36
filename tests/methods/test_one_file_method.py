"""A method is one file: the toy method below is whole here (its class, description, presets and `Params` with
`Literal` choices and `knob` help and ranges) and is added by one registration line. It is then listed and
described, offered by the Train form with its choices, help and ranges, refused out of range by the CLI's check,
and trained and evaluated through `engine.compute`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from dashboard import params_form
from engine import cli
from engine.compute import compute
from engine.methods import METHODS, REGISTERED, get_method
from engine.methods.base import BaseMethod
from engine.methods.catalog import DESCRIPTIONS, describe
from engine.methods.params import knob, make_params
from engine.methods.prediction import Prediction
from engine.methods.progress import EpochLog, OnEpoch
from engine.run_inputs import load_run_inputs
from engine.runconfig import RunConfig

KEY = "mean_image"


@dataclass(frozen=True)
class Params:
    score: Literal["mean", "max"] = knob(
        "mean", "how the error map becomes a score: its mean or its largest pixel"
    )
    blur: int = knob(
        3,
        "box filter (px) over the error map, "  # help written over several lines is kept whole
        "1 = none",
        range=(1, 7),
    )
    epochs: int = knob(1, range=(1, 5))
    batch_size: int = knob(8, range=(1, 64))


class MeanImage(BaseMethod):
    """The mean normal image; anomaly map = per-pixel distance to it."""

    key: ClassVar[str] = KEY
    description: ClassVar[str] = (
        "the mean of the normal images; score = how far an image lies from it (a toy)"
    )
    Params: ClassVar[type] = Params
    presets: ClassVar[dict] = {"smoke": {"batch_size": 4}, "cpu": {}, "paper": {"epochs": 2}}

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        for epoch in range(1, self.params.epochs + 1):
            total, count = torch.zeros(self.image_shape, device=self.device), 0
            for x in train:
                total += x.to(self.device).float().sum(dim=0)  # (C, H, W)
                count += len(x)
            self.mean = total / count
            if on_epoch:
                on_epoch(EpochLog(epoch, self.params.epochs, {"loss": 0.0}))

    def predict(self, images: Tensor) -> Prediction:
        x = images.to(self.device).float()  # (N, C, H, W)
        error = (x - self.mean).abs().mean(dim=1, keepdim=True)  # (N, 1, H, W)
        if self.params.blur > 1:
            error = F.avg_pool2d(error, self.params.blur, stride=1, padding=self.params.blur // 2)
        error = error[:, 0]  # (N, H, W)
        score = error.flatten(1).amax(dim=1) if self.params.score == "max" else error.flatten(1).mean(dim=1)
        embedding = F.adaptive_avg_pool2d(error[:, None], 4).flatten(1)  # (N, 16)
        return Prediction(score, error, embedding).check(images)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> type[BaseMethod]:
    monkeypatch.setitem(REGISTERED, KEY, (__name__, "MeanImage"))  # the one line a new method adds
    return MeanImage


def test_one_line_lists_and_describes_it(registered, capsys):
    assert KEY in METHODS and list(METHODS)[-1] == KEY and get_method(KEY) is registered
    assert describe(KEY) == registered.description and DESCRIPTIONS[KEY] == registered.description
    assert cli.main(["methods"]) == 0
    assert KEY in capsys.readouterr().out.split()


def test_the_train_form_reads_choices_help_and_ranges(registered):
    specs = {s.name: s for s in params_form.param_specs(registered, "smoke")}
    assert (specs["score"].kind, specs["score"].choices, specs["score"].default) == (
        "choice",
        ("mean", "max"),
        "mean",
    )
    assert specs["score"].help.startswith("how the error map becomes a score")
    assert (specs["blur"].kind, specs["blur"].bounds) == ("int", (1, 7))
    assert specs["blur"].help == "box filter (px) over the error map, 1 = none"
    assert (specs["batch_size"].default, specs["batch_size"].help) == (4, None)  # the smoke preset's value
    assert params_form.overrides(registered, "smoke", {"score": "max", "blur": 3}) == (("score", "max"),)


def test_out_of_range_and_unknown_choices_are_refused(registered, workbench_env, toy_folder, capsys):
    with pytest.raises(
        ValueError, match=r"unknown score 'median' for mean_image; choose from \['mean', 'max'\]"
    ):
        make_params(registered, "cpu", {"score": "median"})
    code = cli.main(["train", "--dataset", str(toy_folder), "--method", KEY, "--set", "blur=9"])
    err = capsys.readouterr().err
    assert (
        code == 2 and "mean_image: blur=9 is out of range; expected 1 to 7" in err and "Traceback" not in err
    )


def test_it_trains_and_predicts_through_compute(registered, toy_folder):
    config = RunConfig(str(toy_folder), KEY, "smoke", image_size=32)
    outcome = compute(config, load_run_inputs(config))
    assert outcome.start.params == {
        "score": "mean",
        "blur": 3,
        "epochs": 1,
        "batch_size": 4,
        "labeled_anomalies": 0,
    }
    assert outcome.metrics["n_test"] == 6 and 0.0 <= outcome.metrics["image_auroc"] <= 1.0
    assert outcome.arrays.anomaly_maps.shape == (6, 32, 32)


def test_every_registered_description_is_read_without_importing_its_file():
    for key in METHODS:
        assert DESCRIPTIONS[key] == METHODS[key].description, key  # the source's line is the class's
