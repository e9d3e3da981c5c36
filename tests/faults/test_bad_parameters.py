"""Every out-of-range parameter is refused before anything is recorded, with a message naming it."""

from __future__ import annotations

import dataclasses

import pytest

from db import runs as db_runs
from db.store import Store
from engine import cli, jobs, tracking
from engine.methods import METHODS
from engine.methods.params import PRESETS, make_params
from engine.methods.ranges import field_range, numeric_fields
from engine.resources import MemoryNeed, ResourceError, check_memory
from engine.runconfig import RunConfig

CASES = [
    (["--set", "epochs=-1"], "epochs=-1"),
    (["--set", "epochs=0"], "epochs=0"),
    (["--set", "epochs=1000000000"], "epochs=1000000000"),
    (["--set", "batch_size=0"], "batch_size=0"),
    (["--set", "latent_dim=0"], "latent_dim=0"),
    (["--set", "latent_dim=100000000"], "latent_dim=100000000"),
    (["--set", "width=0"], "width=0"),
    (["--set", "lr=-1"], "lr=-1"),
    (["--set", "lr=nan"], "lr=nan"),
    (["--labeled-anomalies", "-1"], "labeled_anomalies=-1"),
    (["--image-size", "0"], "image_size=0"),
    (["--image-size", "100000"], "image_size=100000"),
    (["--device", "cuda"], "cuda"),
]


def _nothing_recorded() -> None:
    assert db_runs.list_runs(Store.at()) == []
    client = tracking.mlflow_client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments) == []


@pytest.mark.parametrize(("args", "named"), CASES, ids=[c[1] for c in CASES])
def test_cli_refuses_before_recording(workbench_env, toy_folder, capsys, args, named):
    if named == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA: --device cuda is valid here")
    code = cli.main(["train", "--dataset", str(toy_folder), "--method", "vae", "--preset", "smoke", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err and "Traceback" not in err
    if named != "cuda":
        assert "expected" in err  # the valid range is part of the message
    _nothing_recorded()


def test_steps_of_the_projection_are_bounded(workbench_env, toy_folder, capsys):
    code = cli.main(
        ["train", "--dataset", str(toy_folder), "--method", "vae_projection", "--set", "steps=-1"]
    )
    assert code == 2 and "steps=-1 is out of range; expected 0 to 10000" in capsys.readouterr().err


def test_queue_refuses_a_bad_job_up_front(workbench_env, toy_folder):
    config = RunConfig(
        dataset=str(toy_folder), method="vae", preset="smoke", overrides=(("batch_size", "0"),)
    )
    with pytest.raises(ValueError, match=r"batch_size=0 is out of range; expected 1 to 1024"):
        jobs.enqueue(config)
    assert jobs.list_jobs() == []


def test_run_too_big_for_the_machine_is_refused_before_it_starts(workbench_env, capsys):
    code = cli.main(["train", "--dataset", "mnist", "--method", "vae", "--image-size", "1024"])
    err = capsys.readouterr().err
    assert code == 2 and "GiB" in err and "lower image_size or batch_size" in err
    _nothing_recorded()


def test_memory_need_against_what_is_free():
    need = MemoryNeed(images=300, channels=3, image_size=256, batch_size=32)
    check_memory(need, available=8 * 2**30)
    with pytest.raises(ResourceError, match=r"needs about 3\.6 GiB \(300 images at 256 px, batch size 32\)"):
        check_memory(need, available=1 * 2**30)


@pytest.mark.parametrize("key", list(METHODS))
def test_every_numeric_parameter_has_a_range_holding_every_preset(key):
    method_cls = METHODS[key]
    for field in numeric_fields(method_cls.Params):
        assert field_range(field) is not None, f"{key}.{field.name} has no range"
    for preset in PRESETS:
        params = make_params(method_cls, preset)  # raises if a preset value is out of its own range
        for field in numeric_fields(method_cls.Params):
            lo, hi = field_range(field)
            assert lo <= getattr(params, field.name) <= hi


def test_range_metadata_on_a_field_wins_over_the_shared_table():
    @dataclasses.dataclass(frozen=True)
    class Params:
        epochs: int = dataclasses.field(default=3, metadata={"range": (1, 5)})

    class Toy:
        key = "toy"
        presets: dict = {}

    Toy.Params = Params
    assert make_params(Toy, "cpu", {"epochs": "5"}).epochs == 5
    with pytest.raises(ValueError, match="toy: epochs=6 is out of range; expected 1 to 5"):
        make_params(Toy, "cpu", {"epochs": "6"})
