"""Train page queue: first on the page, AUROC of finished jobs, Retry, Compare, method lines and the ETA."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import train_estimates, train_panels
from dashboard.train_estimates import Estimate, PastFit
from dashboard.train_panels import ShownEta
from db import datasets as db_datasets
from db import runs as db_runs
from db.store import Store
from engine import jobs
from engine.data.importer import import_dataset
from engine.executors.local import LocalProcessExecutor
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_mvtec_folder

pytestmark = pytest.mark.slow  # AppTest runs of the Train page while jobs train

PAGE = "dashboard/pages/train.py"
ROUTER = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


@pytest.fixture
def toy(fresh_env, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=8, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    return db_datasets.get_dataset(Store.at(), "toy")


@pytest.fixture
def launches(monkeypatch):
    calls = []
    monkeypatch.setattr(LocalProcessExecutor, "ensure_running", lambda self: calls.append(1) or True)
    monkeypatch.setattr(LocalProcessExecutor, "is_running", lambda self: False)
    return calls


def test_smoothed_eta_counts_down_and_damps_jumps():
    first = train_panels.smoothed_eta(None, 100.0, now=0.0)
    assert first == ShownEta(100.0, 0.0)
    # the worker's raw ETA jumps 100 -> 20 -> 100 at a phase change; the shown one moves by less
    raw = [20.0, 100.0, 98.0]
    shown, previous = [], first
    for step, value in enumerate(raw, start=1):
        previous = train_panels.smoothed_eta(previous, value, now=2.0 * step)
        shown.append(previous.seconds)
    assert shown[0] == pytest.approx(0.3 * 20 + 0.7 * 98)  # counted down by 2 s, then blended
    assert abs(shown[1] - shown[0]) < 80 / 2 and abs(shown[2] - shown[1]) < 80 / 2
    steady = first
    for step in range(1, 30):  # a steady pace: raw ETA falls 2 s per 2 s, the shown one follows it
        steady = train_panels.smoothed_eta(steady, 100.0 - 2 * step, now=2.0 * step)
    assert steady.seconds == pytest.approx(100.0 - 58, abs=0.5)
    assert train_panels.smoothed_eta(first, None, now=2.0) is None


def test_expected_fit_seconds_scales_per_training_image():
    past = [
        PastFit(10.0, 100, "a"),
        PastFit(30.0, 100, "b"),
        PastFit(40.0, 200, "c"),
        PastFit(5.0, None, "d"),
    ]
    estimate = train_estimates.expected_fit_seconds(past, 400, "x")
    assert estimate == Estimate(pytest.approx(0.2 * 400), 3)  # median of 0.1, 0.3, 0.2 s per image
    assert train_estimates.expected_fit_seconds(past, None, "d") == Estimate(5.0, 1)  # same dataset only
    assert train_estimates.expected_fit_seconds(past, None, "x") is None
    assert train_estimates.expected_fit_seconds([], 400, "x") is None
    assert train_estimates.estimate_text(None, "cpu").startswith("no estimate yet")
    assert "1:20" in train_estimates.estimate_text(Estimate(80.0, 3), "cpu")


def test_queue_comes_first_and_a_finished_job_shows_auroc_estimate_and_goes_to_compare(toy, launches):
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["user"], at.session_state["dataset"] = "tester", "toy"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    headers = [h.value for h in at.subheader]
    assert headers.index("Queue") < headers.index("New jobs")  # the queue above the form
    at.radio(key="train_preset").set_value("smoke").run()
    at.multiselect(key="train_methods").set_value(["autoencoder"]).run()
    line = next(c.value for c in at.caption if c.value.startswith("**autoencoder**"))
    assert "reconstruction error" in line and "no estimate yet" in line

    at.selectbox(key="train_size").set_value(32).run()
    at.form_submit_button[0].click().run()
    jobs.run_worker(once=True)
    at.run()
    assert not at.exception
    run_id = jobs.list_jobs()[0].run_id
    run = db_runs.get_run(Store.at(), run_id)
    table = at.dataframe[0].value
    assert table["image AUROC"].tolist() == [f"{run.image_auroc:.3f}"]
    assert table["pixel AUROC"].tolist() == [f"{run.pixel_auroc:.3f}"]
    line = next(c.value for c in at.caption if c.value.startswith("**autoencoder**"))
    assert "from 1 finished smoke run(s)" in line and "for 8 training images" in line

    at.button(key="compare_finished").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare"
    assert run_id in at.multiselect(key="runs_picker_toy").value
    assert at.query_params["runs"] == str(run_id)  # kept in the URL too


def test_retry_queues_the_same_config_of_a_failed_or_cancelled_job(fresh_env, app, launches):
    failing = RunConfig("no-such-dataset", "vae", "smoke", user="ann")
    failed_id = jobs.enqueue(failing)
    jobs.run_worker(once=True)
    cancelled_id = jobs.enqueue(RunConfig("mnist", "autoencoder", "smoke", seed=3))
    jobs.cancel(cancelled_id)

    at = app(PAGE)
    assert not at.exception
    assert f"Job #{cancelled_id} (autoencoder on mnist) was cancelled." in at.info[0].value
    at.button(key=f"retry-{failed_id}").click().run()
    assert not at.exception
    newest = jobs.list_jobs()[0]
    assert (newest.status, newest.config) == ("QUEUED", failing)
    assert f"Job #{failed_id} queued again as job #{newest.id}." in at.success[0].value
    at.button(key=f"retry-{cancelled_id}").click().run()
    assert jobs.list_jobs()[0].config == RunConfig("mnist", "autoencoder", "smoke", seed=3)
    assert len(jobs.list_jobs(statuses=("QUEUED",))) == 2


def test_a_retried_job_loses_its_banner_and_a_stale_retry_button_queues_nothing(fresh_env, app, launches):
    cancelled_id = jobs.enqueue(RunConfig("mnist", "autoencoder", "smoke", seed=3))
    jobs.cancel(cancelled_id)
    mine, theirs = app(PAGE), app(PAGE)  # two people with the Train page open, both showing the banner
    banner = f"Job #{cancelled_id} (autoencoder on mnist) was cancelled."
    assert banner in mine.info[0].value and banner in theirs.info[0].value

    mine.button(key=f"retry-{cancelled_id}").click().run()
    assert not mine.exception
    (retry,) = jobs.list_jobs(statuses=("QUEUED",))
    assert retry.retry_of == cancelled_id
    assert f"Job #{cancelled_id} queued again as job #{retry.id}." in mine.success[0].value
    assert not [i for i in mine.info if banner in i.value]  # the retry shows in the queue instead
    assert f"(retry of job #{cancelled_id})" in mine.main.get("progress")[0].proto.text

    theirs.button(key=f"retry-{cancelled_id}").click().run()  # drawn before the retry: a stale button
    assert not theirs.exception
    assert len(jobs.list_jobs()) == 2  # the cancelled job and its one retry
    assert (
        f"Retry of job #{cancelled_id}: job #{cancelled_id} was retried already as job #{retry.id}, which is queued"
        in theirs.error[0].value
    )

    from db import jobs as db_jobs

    db_jobs.finish_job(
        Store.at(), retry.id, "DONE"
    )  # the retry ran meanwhile: retrying the cancelled job stays refused
    with pytest.raises(db_jobs.NotRetriable, match=f"as job #{retry.id}, which is done"):
        jobs.retry(cancelled_id)
    with pytest.raises(db_jobs.NotRetriable, match="is done; only failed or cancelled jobs are retried"):
        jobs.retry(retry.id)
