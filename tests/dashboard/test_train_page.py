import dataclasses
from datetime import datetime

import pytest

from dashboard import params_form, train_panels
from db import datasets as db_datasets
from db import labels
from db import runs as db_runs
from db.store import Store
from engine import jobs
from engine.data.importer import import_dataset
from engine.executors.local import LocalProcessExecutor
from engine.methods import METHODS
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_mvtec_folder

PAGE = "dashboard/pages/train.py"


@pytest.fixture
def toy(fresh_env, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=8, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    return db_datasets.get_dataset(Store.at(), "toy")


@pytest.fixture
def launches(monkeypatch):
    """Record the page's worker launches instead of starting processes; the test runs the queue itself."""
    calls = []
    monkeypatch.setattr(LocalProcessExecutor, "ensure_running", lambda self: calls.append(1) or True)
    monkeypatch.setattr(LocalProcessExecutor, "is_running", lambda self: False)
    return calls


def test_param_specs_follow_the_dataclass_and_preset():
    specs = {s.name: s for s in params_form.param_specs(METHODS["deep_svdd"], "smoke")}
    assert specs["mode"].kind == "choice" and specs["mode"].choices == ("one_class", "semi")
    assert (specs["epochs"].kind, specs["epochs"].default) == ("int", 1)  # the smoke preset's value
    assert specs["lr"].kind == "float"
    assert "Deep SAD" in specs["mode"].help  # from the source comment
    values = {name: s.default for name, s in specs.items()} | {"mode": "semi", "epochs": 2}
    assert params_form.overrides(METHODS["deep_svdd"], "smoke", values) == (("epochs", "2"), ("mode", "semi"))
    with pytest.raises(ValueError, match="batch_size"):
        params_form.overrides(METHODS["deep_svdd"], "smoke", {"batch_size": "many"})


def test_progress_text():
    view = jobs.JobView(
        3,
        "RUNNING",
        "vae",
        "toy",
        "cpu",
        0.5,
        "fit",
        2,
        10,
        0.01234,
        42.0,
        7,
        None,
        False,
        datetime(2026, 1, 1),
        None,
        None,
        None,
    )
    # the job says which run it became: the number Compare, Inspect and Review show
    assert (
        train_panels.progress_text(view)
        == "job #3 → run #7 · vae on toy (cpu): fit, epoch 2/10, loss 0.01234, ETA 0:42"
    )
    assert train_panels.duration(3723) == "1:02:03"
    # a feature method shows the images of its pass, and no "loss" (it has none; it logs a fit statistic)
    padim = dataclasses.replace(view, method="padim", phase="fit 120/250 images", epoch=None, epochs=None)
    assert (
        train_panels.progress_text(padim)
        == "job #3 → run #7 · padim on toy (cpu): fit 120/250 images, ETA 0:42"
    )
    queued = dataclasses.replace(view, status="QUEUED", run_id=None, retry_of=2)
    assert (
        train_panels.progress_text(queued)
        == "job #3 · vae on toy (cpu): waiting for the worker (retry of job #2)"
    )


@pytest.mark.slow  # the Train page while two jobs train to the end
def test_enqueue_two_methods_with_labeled_anomalies_and_watch_them_finish(toy, app, launches):
    anomaly = next(
        s for s in labels.images_to_label(Store.at(), toy.id) if s.relpath == "test/square/001.png"
    )
    labels.save_label(
        Store.at(),
        anomaly.image_id,
        shown_version=anomaly.version,
        author="ann",
        label=1,
        defect_type="square",
    )

    at = app(PAGE, dataset="toy")
    at.radio(key="train_preset").set_value("smoke").run()
    at.multiselect(key="train_methods").set_value(["autoencoder", "deep_svdd"]).run()
    at.selectbox(key="train_size").set_value(32).run()
    at.selectbox(key="params-deep_svdd-smoke-mode").set_value("semi")
    at.radio(key="train_labeled_source").set_value("the 1 labeled on the Label page")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert "Queued job(s) #1, #2" in at.success[0].value
    assert launches  # the page asked the executor for a worker; no training ran in the script

    queued = {v.method: v for v in jobs.list_jobs()}
    assert {v.status for v in queued.values()} == {"QUEUED"}
    assert queued["autoencoder"].config == RunConfig(
        "toy", "autoencoder", "smoke", image_size=32, user="tester"
    )
    svdd = queued["deep_svdd"].config
    assert svdd.overrides == (("mode", "semi"),)
    assert svdd.labeled_anomalies == ("test/square/001.png",)

    jobs.run_worker(once=True)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["status"]) == ["DONE", "DONE"]
    run = db_runs.get_run(Store.at(), jobs.get_job(queued["deep_svdd"].id).run_id)
    assert run.params["labeled_anomalies"] == 1
    assert "test/square/001.png" not in [p.image_name for p in db_runs.get_predictions(Store.at(), run.id)]


def test_queue_shows_progress_cancel_and_failures(fresh_env, app, launches):
    failing = jobs.enqueue(RunConfig("no-such-dataset", "vae", "smoke"))
    jobs.run_worker(once=True)
    waiting = jobs.enqueue(RunConfig("mnist", "vae", "smoke"))

    at = app(PAGE)
    assert not at.exception
    assert "job #2 · vae on mnist (smoke): waiting for the worker" in at.main.get("progress")[0].proto.text
    assert f"Job #{failing} (vae on no-such-dataset) failed" in at.error[0].value
    assert "unknown dataset 'no-such-dataset'" in at.error[0].value
    assert launches  # a queued job and no worker: the panel starts one

    at.button(key=f"cancel-{waiting}").click().run()
    assert jobs.get_job(waiting).status == "CANCELLED"
    assert not at.main.get("progress")


def test_list_valued_and_choice_fields_get_the_right_inputs():
    padim = {s.name: s for s in params_form.param_specs(METHODS["padim"], "smoke")}
    # a comma-separated list is typed, not picked: its default is no single stage (a selectbox of single
    # stages had broken the smoke padim, d=32)
    assert (padim["layers"].kind, padim["layers"].default) == ("str", "layer1,layer2,layer3")
    projection = {s.name: s for s in params_form.param_specs(METHODS["vae_projection"], "cpu")}
    assert projection["step_rule"].choices == ("paper", "calibrated")
    assert projection["backtrack"].bounds == (0, 30) and projection["move"].bounds == (1e-4, 1.0)


def test_form_inputs_carry_the_ranges_and_a_bad_value_queues_nothing(toy, app, launches):
    specs = {s.name: s for s in params_form.param_specs(METHODS["vae"], "cpu")}
    assert specs["epochs"].bounds == (1, 10_000) and specs["score"].bounds is None

    at = app(PAGE, dataset="toy")
    at.multiselect(key="train_methods").set_value(["vae"]).run()
    epochs = at.number_input(key="params-vae-cpu-epochs")
    assert (epochs.min, epochs.max) == (1, 10_000)  # the browser cannot go below or above
    with pytest.raises(ValueError, match=r"latent_dim=0 is out of range; expected 1 to 4096"):
        params_form.overrides(METHODS["vae"], "cpu", {"latent_dim": 0})  # what a typed value would hit
    at.number_input(key="params-vae-cpu-batch_size").set_value(1024)
    at.selectbox(key="train_size").set_value(256)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert "GiB" in at.error[0].value and "lower image_size or batch_size" in at.error[0].value
    assert not at.success and jobs.list_jobs() == []


def test_several_seeds_queue_a_grid_of_methods_by_seeds(toy, app, launches):
    at = app(PAGE, dataset="toy")
    at.radio(key="train_preset").set_value("smoke").run()
    at.multiselect(key="train_methods").set_value(["autoencoder", "vae"]).run()
    at.text_input(key="train_seeds").set_value("0, 1, 2").run()
    at.form_submit_button[0].click().run()
    assert not at.exception
    queued = sorted((v.method, v.config.seed) for v in jobs.list_jobs())
    assert queued == [(m, s) for m in ("autoencoder", "vae") for s in (0, 1, 2)]


def test_seeds_that_are_not_numbers_queue_nothing(toy, app, launches):
    assert params_form.parse_seeds("1, 1, 3") == ([1, 3], None)
    at = app(PAGE, dataset="toy")
    at.multiselect(key="train_methods").set_value(["vae"]).run()
    at.text_input(key="train_seeds").set_value("one, two").run()
    at.form_submit_button[0].click().run()
    assert "is not a list of whole numbers" in at.error[0].value
    assert jobs.list_jobs() == []


def test_a_ray_executor_without_a_cluster_is_one_sentence_on_the_page(fresh_env, app, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXECUTOR", "ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    at = app(PAGE)
    assert not at.exception
    assert (
        len(at.error) == 1 and "ray start --head" in at.error[0].value and "RAY_ADDRESS" in at.error[0].value
    )
