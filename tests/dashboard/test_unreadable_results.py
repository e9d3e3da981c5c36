"""One run whose results file (predictions.npz) is truncated or gone: every results page says so in one sentence
for that run and still shows the other runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db import comments
from db import runs as db_runs
from db.store import Store
from engine.artifacts import predictions_path
from tests.dashboard.plotly_spec import figures_on, gallery_grid

pytestmark = pytest.mark.slow  # AppTest runs of whole pages over damaged runs

FLAGGED = "test/square/001.png"


@pytest.fixture(params=["truncated", "missing"])
def damaged(request, results_env, tmp_path: Path):
    """The newer autoencoder run of this test's store copy with its results file cut in half, or gone from
    both the local disk and the MLflow artifact store (the shared artifacts stay untouched)."""
    run = db_runs.get_run(Store.at(), results_env.autoencoder)
    if request.param == "truncated":
        data = predictions_path(run).read_bytes()
        cut = tmp_path / "cut" / "predictions.npz"
        cut.parent.mkdir()
        cut.write_bytes(data[: len(data) // 2])
        db_runs.update_run(Store.at(), run.id, predictions_path=str(cut))
    else:
        db_runs.update_run(Store.at(), run.id, predictions_path=str(tmp_path / "gone" / "predictions.npz"))
        (tmp_path / "empty-artifacts").mkdir()
        with sqlite3.connect(tmp_path / "mlruns" / "mlflow.db") as db:
            db.execute(
                "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                ((tmp_path / "empty-artifacts").as_uri(), run.mlflow_run_id),
            )
    Store.dispose_all()
    return results_env


def _one_sentence_for_the_bad_run(at, env) -> None:
    assert not at.exception
    texts = [w.value for w in at.warning]
    bad = [t for t in texts if f"autoencoder #{env.autoencoder}" in t]
    assert len(bad) == 1, texts
    assert "results file" in bad[0] and "missing or damaged" in bad[0]
    assert "/" not in bad[0].replace("predictions.npz", "") and "Error" not in bad[0], bad[0]
    assert not any(f"deep_svdd #{env.deep_svdd}" in t for t in texts)


def test_embeddings_maps_the_other_runs(damaged, app):
    at = app("dashboard/pages/embeddings.py", dataset=damaged.dataset)
    _one_sentence_for_the_bad_run(at, damaged)
    assert set(figures_on(at)) == {f"deep_svdd #{damaged.deep_svdd} (t-SNE)"}
    at.selectbox(key="embedding_image").select(FLAGGED).run()  # the side panel still works
    assert not at.exception
    panel = " ".join(m.value for m in at.markdown)
    assert (
        f"**deep_svdd #{damaged.deep_svdd}**" in panel and f"**autoencoder #{damaged.autoencoder}**" in panel
    )


def test_inspect_shows_the_other_runs_row(damaged, app, caplog):
    at = app("dashboard/pages/inspect.py", dataset=damaged.dataset)  # the damaged run is the reference
    _one_sentence_for_the_bad_run(at, damaged)
    logged = [r for r in caplog.records if f"results file of run {damaged.autoencoder}" in r.getMessage()]
    assert logged and logged[0].exc_info, "the details should go to the server log"
    captions = [c for image in at.image for c in image.captions]
    assert captions.count("error map (scale shared by the run)") == 1
    assert captions.count("attention") == 1  # deep_svdd's row
    grid = gallery_grid(at)  # the gallery, of the damaged reference's scores
    tile_captions = [a["text"] for a in grid["layout"].get("annotations", [])]
    assert tile_captions and all(t.startswith("#") for t in tile_captions), tile_captions
    at.selectbox(key="inspect_reference").select(damaged.deep_svdd).run()
    _one_sentence_for_the_bad_run(at, damaged)


def test_review_shows_the_other_runs_example_and_builds_the_report(damaged, app):
    from dashboard import results_cache, review_view

    comments.flag_image(Store.at(), damaged.dataset, FLAGGED, "ann", run_id=damaged.deep_svdd)
    at = app("dashboard/pages/review.py", dataset=damaged.dataset)
    assert not at.exception
    captions = [c for image in at.image for c in image.captions]
    assert captions[0] == "input" and any(c.startswith(f"deep_svdd #{damaged.deep_svdd}: ") for c in captions)
    assert not any(c.startswith(f"autoencoder #{damaged.autoencoder}") for c in captions)
    heading = next(m.value for m in at.markdown if m.value.startswith(f"**{FLAGGED}**"))
    assert f"autoencoder #{damaged.autoencoder}: its results file is missing or damaged" in heading
    runs = [r for r in results_cache.finished_runs(damaged.dataset) if r.id in damaged.latest]
    html = review_view.report_html(damaged.dataset, runs, "ann")
    assert f"deep_svdd #{damaged.deep_svdd}" in html and "missing or damaged" in html


def test_compare_needs_no_results_file(damaged, app):
    at = app("dashboard/pages/compare.py", dataset=damaged.dataset)
    assert not at.exception
    roc = figures_on(at)["ROC curves (image level)"]
    assert f"autoencoder #{damaged.autoencoder}" in " ".join(t["name"] for t in roc["data"])
