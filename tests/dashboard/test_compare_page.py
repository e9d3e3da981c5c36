import numpy as np
import pytest

from db import datasets as db_datasets
from db import runs as db_runs
from db.store import Store
from tests.dashboard.confusion_tables import confusion_tables
from tests.dashboard.plotly_spec import figures_on as charts

PAGE = "dashboard/pages/compare.py"


def test_default_runs_roc_table_and_defect_types(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    picker = at.multiselect[0]
    assert picker.value == results_env.latest  # latest finished run of each method
    assert len(picker.options) == 3  # the FAILED run is not offered

    new, svdd = (
        db_runs.get_run(Store.at(), results_env.autoencoder),
        db_runs.get_run(Store.at(), results_env.deep_svdd),
    )
    roc = charts(at)["ROC curves (image level)"]
    curves = {t["name"]: t for t in roc["data"] if t["name"] != "chance"}
    assert set(curves) == {
        f"autoencoder #{new.id} (AUROC {new.image_auroc:.3f})",
        f"deep_svdd #{svdd.id} (AUROC {svdd.image_auroc:.3f})",
    }
    stored_roc = new.metrics["roc"]
    curve = curves[f"autoencoder #{new.id} (AUROC {new.image_auroc:.3f})"]
    assert curve["x"] == pytest.approx(stored_roc["fpr"]) and curve["y"] == pytest.approx(stored_roc["tpr"])

    table = at.dataframe[0].value.set_index("run")
    assert list(table.index) == [f"autoencoder #{new.id}", f"deep_svdd #{svdd.id}"]
    row = table.loc[f"deep_svdd #{svdd.id}"]
    metrics = svdd.metrics
    assert row["image AUROC"] == pytest.approx(svdd.image_auroc)
    assert row["AP"] == pytest.approx(metrics["average_precision"])
    assert row["pixel AUROC"] == pytest.approx(svdd.pixel_auroc)
    assert row["PRO"] == pytest.approx(metrics["pro"])
    assert row["masks"] == 8  # the 4 square and 4 spot images, each with its mask
    assert row["fit s"] == pytest.approx(svdd.fit_seconds)
    assert row["images/s"] == pytest.approx(svdd.images_per_second)
    assert row["peak MiB"] == pytest.approx(svdd.peak_memory_mb) and row["device"] == "cpu"

    (lead,) = [d.value for d in at.dataframe if "verdict" in d.value.columns]
    assert sorted(lead["run"]) == sorted([f"autoencoder #{new.id}", f"deep_svdd #{svdd.id}"])
    assert list(lead["verdict"]).count("best") == 1
    first = db_runs.get_run(Store.at(), new.id if lead["run"][0] == f"autoencoder #{new.id}" else svdd.id)
    low, high = (first.metrics[k] for k in ("image_auroc_low", "image_auroc_high"))
    assert lead["95% interval"][0] == f"{low:.3f} to {high:.3f}"  # recorded with the run, computed again here

    bars = charts(at)["AUROC per defect type"]["data"]
    assert [b["name"] for b in bars] == [f"autoencoder #{new.id}", f"deep_svdd #{svdd.id}"]
    assert bars[1]["x"] == ["spot<br>(4 images)", "square<br>(4 images)"]  # what each bar rests on
    assert bars[1]["marker"]["opacity"] == [0.3, 0.3]  # 4 images of a type: too few to rank, pale
    per_type = metrics["auroc_per_defect_type"]
    assert bars[1]["y"] == pytest.approx([per_type["spot"], per_type["square"]])


def _confusion(at, run_id: int) -> list[list[int]]:
    for title, matrix in confusion_tables(at).items():
        if title.startswith(f"autoencoder #{run_id} at") or title.startswith(f"deep_svdd #{run_id} at"):
            return matrix
    raise AssertionError(f"no confusion matrix of run {run_id}")


def test_the_threshold_is_typed_in_steps_of_a_thousandth_and_moves_the_confusion_matrix(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    run_id = results_env.deep_svdd
    rows = db_runs.get_predictions(Store.at(), run_id)
    labels = np.array([r.label for r in rows])
    normalized = np.array([r.score_normalized for r in rows])

    box = at.number_input(key=f"threshold_{run_id}")
    metrics = db_runs.get_run(Store.at(), run_id).metrics
    assert box.value == pytest.approx(np.clip(metrics["best_f1_threshold_normalized"], 0, 1), abs=1e-3)
    assert box.step == pytest.approx(0.001) and box.format == "%.3f"  # 0.02-0.25 need this grain

    at = box.set_value(0.0).run()
    assert not at.exception
    assert _confusion(at, run_id) == [[0, int((labels == 0).sum())], [0, int((labels == 1).sum())]]

    cut = round(float(np.median(normalized)), 3)
    at = at.number_input(key=f"threshold_{run_id}").set_value(cut).run()
    called = normalized >= cut
    expected = [
        [int((~called & (labels == 0)).sum()), int((called & (labels == 0)).sum())],
        [int((~called & (labels == 1)).sum()), int((called & (labels == 1)).sum())],
    ]
    assert _confusion(at, run_id) == expected
    assert f"deep_svdd #{run_id} at {cut:.3f}" in confusion_tables(
        at
    )  # the matrix's title: the threshold it counts at
    tp, fp = expected[1][1], expected[0][1]
    text = " ".join(m.value for m in at.markdown)
    assert f"precision **{tp / (tp + fp):.2f}**" in text
    assert f"{fp} false positive(s)" in text


def test_picking_the_older_run_adds_its_curve(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    at = at.multiselect[0].select(results_env.old_autoencoder).run()
    assert not at.exception
    names = [t["name"] for t in charts(at)["ROC curves (image level)"]["data"]]
    assert any(n.startswith(f"autoencoder #{results_env.old_autoencoder} ") for n in names)
    assert len(at.dataframe[0].value) == 3


def test_dataset_without_runs_says_so(results_env, app):
    at = app(PAGE, dataset="mnist")
    assert not at.exception
    assert "No finished runs on 'mnist'" in at.info[0].value
    assert not at.get("plotly_chart")


def test_table_shows_n_per_run_and_defect_type_and_who_queued(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    table = at.dataframe[0].value.set_index("run")
    row = table.loc[f"deep_svdd #{results_env.deep_svdd}"]
    assert row["n"] == 14  # 6 good + 4 square + 4 spot
    assert row["test images"] == "good 6, spot 4, square 4"
    assert not at.warning  # one label set, today's: nothing to warn about


def _relabel_one_square_as_normal() -> str:
    from db import labels

    record = db_datasets.get_dataset(Store.at(), RESULTS_DATASET)
    image = next(
        i for i in db_datasets.list_images(Store.at(), record.id, split="test") if i.defect_type == "square"
    )
    saved = labels.save_label(Store.at(), image.id, shown_version=image.label_version, author="ann", label=0)
    assert saved.saved
    return image.relpath


RESULTS_DATASET = "parts"


def test_changed_labels_are_warned_about_and_rescored(results_env, app):
    from engine import metrics as M

    relabeled = _relabel_one_square_as_normal()
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    assert len(at.warning) == 1
    assert "scored before the labels last changed" in at.warning[0].value
    at = at.button(key="rescore").click().run()
    assert not at.exception, at.exception

    picked = at.multiselect[0].value
    assert len(picked) == 2 and not set(picked) & set(results_env.latest)  # the re-scored runs replace them
    assert not at.warning  # both now on today's labels
    table = at.dataframe[0].value.set_index("method")
    assert table.loc["deep_svdd", "n"] == 14
    assert table.loc["deep_svdd", "test images"] == "good 7, spot 4, square 3"
    new_svdd = db_runs.get_run(Store.at(), int(table.loc["deep_svdd", "run"].split("#")[1]))
    assert new_svdd.queued_by == "tester" and table.loc["deep_svdd", "queued by"] == "tester"
    rows = {r.image_name: r for r in db_runs.get_predictions(Store.at(), new_svdd.id)}
    assert rows[relabeled].label == 0
    old = {r.image_name: r for r in db_runs.get_predictions(Store.at(), results_env.deep_svdd)}
    labels = np.array([rows[n].label for n in old])
    scores = np.array([old[n].score for n in old])
    assert new_svdd.image_auroc == pytest.approx(M.image_auroc(labels, scores))
    assert new_svdd.metrics["rescored_from"] == results_env.deep_svdd

    at = at.multiselect[0].select(results_env.deep_svdd).run()  # an old run next to the re-scored ones
    assert len(at.warning) == 1
    assert "2 different test sets" in at.warning[0].value


def test_runs_of_one_setting_with_two_seeds_show_mean_and_std(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    at.multiselect[0].set_value(
        [results_env.old_autoencoder, results_env.autoencoder, results_env.deep_svdd]
    ).run()
    assert not at.exception
    (seeds_table,) = [df.value for df in at.dataframe if "seeds" in df.value.columns]
    (row,) = seeds_table.to_dict("records")  # deep_svdd has one seed: no row
    aurocs = [
        db_runs.get_run(Store.at(), r).image_auroc
        for r in (results_env.old_autoencoder, results_env.autoencoder)
    ]
    assert (row["method"], row["seeds"], row["runs"]) == ("autoencoder", "0, 1", 2)
    assert row["image AUROC"] == f"{np.mean(aurocs):.3f} ± {np.std(aurocs, ddof=1):.3f}"


def test_no_seed_table_when_every_setting_has_one_seed(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    at.multiselect[0].set_value([results_env.autoencoder, results_env.deep_svdd]).run()
    assert not at.exception
    assert not [df for df in at.dataframe if "seeds" in df.value.columns]


def test_ensemble_of_the_chosen_runs_is_recorded_and_compared(results_env, app):
    from engine.artifacts import load_predictions
    from engine.metrics import image_auroc

    at = app(PAGE, dataset=results_env.dataset)
    at = at.button(key="ensemble_record").click().run()
    assert not at.exception, at.exception
    (done,) = [m.value for m in at.success if "ensemble" in m.value]
    new_id = int(done.split("run #")[1].split(":")[0])
    run = db_runs.get_run(Store.at(), new_id)
    assert "over the best member (95% interval " in done
    assert (run.method, run.status, run.queued_by) == ("ensemble", "FINISHED", "tester")
    params = run.params
    assert params["rule"] == "max_margin" and sorted(params["members"]) == sorted(results_env.latest)
    assert at.multiselect[0].value == [*results_env.latest, new_id]  # added to the comparison
    roc = charts(at)["ROC curves (image level)"]
    assert f"ensemble #{new_id} (AUROC {run.image_auroc:.3f})" in [t["name"] for t in roc["data"]]
    assert "ensemble #" + str(new_id) in list(at.dataframe[0].value["run"])

    # its saved predictions are what a page reads, and its AUROC is that of its own scores
    preds = load_predictions(run)
    assert preds.get("embeddings").shape[1] == 2  # one standardised score per member
    assert run.image_auroc == pytest.approx(image_auroc(preds.get("labels"), preds.get("scores")))

    at = at.radio(key="ensemble_rule").set_value("mean").run()
    at = at.button(key="ensemble_record").click().run()
    assert not at.exception
    newest = db_runs.list_runs(Store.at(), dataset_name=results_env.dataset, method="ensemble")[0]
    assert newest.params["rule"] == "mean"
    members = newest.params["members"]
    assert sorted(members) == sorted(results_env.latest)  # ensembles left out


def test_ensemble_needs_two_runs(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    at = at.multiselect[0].set_value([results_env.deep_svdd]).run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "ensemble_record"]
    assert any("at least two runs" in c.value for c in at.caption)
