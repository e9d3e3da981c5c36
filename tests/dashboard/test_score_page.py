"""Score new images: a saved padim run scores uploads (highest first, decisions at the run's threshold, bad files
named), refuses batches larger than the page scores, and sends picked images to the Label page as unlabeled
test images carrying their score."""

from __future__ import annotations

import io
import zipfile
from dataclasses import MISSING, fields

import numpy as np
import pytest
from PIL import Image

from dashboard import label_suggest, model_cache, pictures, score_view
from dashboard.run_info import RunInfo
from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine.data.importer import import_dataset
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import load_saved_model
from tests.synthetic_mvtec import defect, make_mvtec_folder, normal_image, png_bytes

pytestmark = pytest.mark.slow  # AppTest runs of the Score page with a trained model

PAGE = "dashboard/pages/score.py"


@pytest.fixture
def padim(fresh_env, tmp_path) -> int:
    """Dataset `toy` (16 train, 4 good + 4 'square' test images, 32 px) and one finished smoke padim run."""
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=16, n_good=4, defects={"square": 4}, size=32), "toy"
    )
    return train_and_evaluate(RunConfig("toy", "padim", "smoke", image_size=32)).run_id


def _images() -> dict[str, bytes]:
    rng = np.random.default_rng(21)
    plain = normal_image(rng, 32, 3)
    flawed, _ = defect(normal_image(rng, 32, 3), rng)
    return {"plain.png": png_bytes(plain), "flawed.png": png_bytes(flawed)}


def _expected(run_id: int, files: dict[str, bytes]) -> dict[str, tuple[float, str]]:
    """{name: (normalised score, decision)} from the run rebuilt here, apart from the page."""
    model = load_saved_model(run_id)
    images = [Image.open(io.BytesIO(data)) for data in files.values()]
    raw = model.score(model.prepare(images)).score.numpy()
    normalized = model.normalize(raw)
    return {
        name: (float(normalized[i]), "anomalous" if raw[i] > model.threshold else "normal")
        for i, name in enumerate(files)
    }


def test_uploads_are_scored_highest_first_and_sent_with_their_score(padim):
    files = _images()
    scoring = score_view.score_uploads("toy", padim, [*files.items(), ("notes.txt", b"not an image")])
    expected = _expected(padim, files)

    names = [card.name for card in scoring.cards]
    assert names == sorted(files, key=lambda n: -expected[n][0])  # highest score first
    for card in scoring.cards:
        assert card.score_normalized == pytest.approx(expected[card.name][0], abs=1e-5)
        assert card.decision == expected[card.name][1]
        overlay = np.asarray(Image.open(io.BytesIO(card.overlay)))
        assert overlay.shape == (score_view.CARD_PX, score_view.CARD_PX, 3)
    assert len(scoring.bad) == 1 and "notes.txt" in scoring.bad[0] and "not an image" in scoring.bad[0]
    low, high = pictures.heat(np.array([[0.0, 1.0]]))[0]
    assert low.sum() < 20 < 600 < high.sum()  # the map's colour scale starts dark

    record = db_datasets.get_dataset(Store.at(), "toy")
    before = len(labels.images_to_label(Store.at(), record.id))
    sent = score_view.send_to_label(scoring, list(scoring.cards), "ann")
    assert (sent.added, sent.already, sent.skipped) == (2, 0, ())
    new = labels.images_to_label(Store.at(), record.id, "test", only_unlabeled=True)
    assert sorted(s.relpath for s in new) == ["test/unlabeled/flawed.png", "test/unlabeled/plain.png"]
    assert len(labels.images_to_label(Store.at(), record.id)) == before + 2
    for state in new:
        score, decision = expected[state.relpath.rsplit("/", 1)[-1]]
        (note,) = score_view.score_notes("toy", state.relpath)
        assert (
            f"Scored {score:.2f}" in note
            and f"run #{padim} (padim)" in note
            and note.endswith(f"{decision}.")
        )
    # padim's latest run carries the scores into Suggest next
    merged = label_suggest.method_scores("toy", Store.at())
    assert merged["padim"]["test/unlabeled/plain.png"] == pytest.approx(expected["plain.png"][0])
    assert model_cache.predicted(padim).keys() == {s.relpath for s in new}


def test_a_batch_larger_than_the_page_scores_is_refused(padim):
    one = png_bytes(normal_image(np.random.default_rng(2), 32, 3))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(score_view.MAX_IMAGES + 1):
            z.writestr(f"line/{i:03d}.png", one)
    with pytest.raises(
        score_view.TooManyImages, match=f"65 images .* python -m engine predict --run {padim}"
    ):
        score_view.score_uploads("toy", padim, [("batch.zip", archive.getvalue())])


def test_page_scores_uploads_and_sends_the_picked_one(padim, app):
    at = app(PAGE, dataset="toy", user="ann")
    assert not at.exception
    assert at.selectbox(key="score_run_toy").value == padim
    assert "best image AUROC" in at.caption[0].value  # no champion registered
    files = _images()
    at.file_uploader(key="score_upload").set_value([(n, d, "image/png") for n, d in files.items()])
    at.run()
    at.button(key="score_go").click().run()
    assert not at.exception
    expected = _expected(padim, files)
    order = sorted(files, key=lambda n: -expected[n][0])
    assert at.subheader[0].value == f"2 image(s) scored by padim #{padim}"
    lines = [m.value for m in at.markdown if m.value.startswith("score **")]
    assert lines == [
        f"score **{expected[n][0]:.2f}** · "
        + (":red[**anomalous**]" if expected[n][1] == "anomalous" else "normal")
        for n in order
    ]
    picks = [c for c in at.checkbox if c.key.startswith("score_pick_")]
    picks[0].check().run()
    at.button(key="score_send").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Sent 1 image(s) to the Label page")
    (added,) = labels.images_to_label(
        Store.at(), db_datasets.get_dataset(Store.at(), "toy").id, "test", only_unlabeled=True
    )
    assert added.relpath == f"test/unlabeled/{order[0]}"
    assert f"Scored {expected[order[0]][0]:.2f}" in score_view.score_notes("toy", added.relpath)[0]
    assert not any(c.value for c in at.checkbox if c.key.startswith("score_pick_"))  # sent, so unpicked

    label = app("dashboard/pages/label.py", dataset="toy", user="ann")  # the Label page shows the note
    label.selectbox(key="label_order").select("suggest next: methods disagree").run()
    label.selectbox(key="label_jump").select(added.relpath).run()
    assert not label.exception
    assert any(f"Scored {expected[order[0]][0]:.2f}" in c.value for c in label.caption)


def _run(run_id: int, auroc: float | None) -> RunInfo:
    required = {
        f.name: None for f in fields(RunInfo) if f.default is MISSING and f.default_factory is MISSING
    }
    return RunInfo(**{**required, "id": run_id, "method": "padim", "image_auroc": auroc})


def test_the_default_run_is_the_champion_else_the_best_auroc():
    runs = [_run(1, 0.7), _run(2, None), _run(3, 0.9), _run(4, 0.8)]
    assert score_view.default_run(runs, 4) == (4, "the dataset's champion in the model registry")
    assert score_view.default_run(runs, None)[0] == 3
    assert score_view.default_run(runs, 99)[0] == 3  # a champion of another dataset's runs is not offered


def test_page_defaults_to_the_registered_champion(padim, app):
    from engine.registry import register_run

    register_run(padim, user="ann")
    at = app(PAGE, dataset="toy", user="ann")
    assert not at.exception
    assert at.caption[0].value == f"Default: padim #{padim}, the dataset's champion in the model registry."
