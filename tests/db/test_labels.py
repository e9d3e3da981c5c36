import pytest

from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine.data.importer import import_dataset
from tests.synthetic_mvtec import make_mvtec_folder


@pytest.fixture
def dataset(workbench_env, tmp_path):
    folder = make_mvtec_folder(tmp_path / "src", n_train=4, n_good=2, defects={"square": 2}, size=16)
    import_dataset(folder, "toy")
    return db_datasets.get_dataset(Store.at(), "toy")


def _first_test(dataset) -> labels.LabelState:
    return labels.images_to_label(Store.at(), dataset.id, split="test")[0]


def test_save_records_author_version_and_history(dataset):
    shown = _first_test(dataset)
    result = labels.save_label(
        Store.at(), shown.image_id, shown_version=shown.version, author="ann", label=1, defect_type="scratch"
    )
    assert result.saved
    assert result.state.version == shown.version + 1
    assert (result.state.label, result.state.defect_type, result.state.labeled_by) == (1, "scratch", "ann")
    history = labels.label_history(Store.at(), shown.image_id)
    assert [(e.author, e.label, e.version) for e in history] == [("ann", 1, shown.version + 1)]
    assert labels.labeled_anomalies(Store.at(), dataset.id) == [shown.relpath]  # folder labels have no author
    assert "scratch" in labels.defect_types(Store.at(), dataset.id)


def test_second_save_on_same_version_is_refused_with_first_authors_value(dataset):
    shown = _first_test(dataset)  # both people were shown this version
    first = labels.save_label(
        Store.at(), shown.image_id, shown_version=shown.version, author="ann", label=1, defect_type="dent"
    )
    second = labels.save_label(Store.at(), shown.image_id, shown_version=shown.version, author="bob", label=0)
    assert first.saved and not second.saved
    assert second.state.labeled_by == "ann"
    assert (second.state.label, second.state.defect_type) == (1, "dent")
    stored = labels.label_state(Store.at(), shown.image_id)
    assert (stored.label, stored.labeled_by) == (1, "ann")  # bob did not overwrite
    assert len(labels.label_history(Store.at(), shown.image_id)) == 1
    # bob saw the conflict and chose to overwrite: he saves on top of ann's version
    third = labels.save_label(
        Store.at(), shown.image_id, shown_version=second.state.version, author="bob", label=0
    )
    assert third.saved and third.state.label == 0 and third.state.defect_type == "good"
    assert [e.author for e in labels.label_history(Store.at(), shown.image_id)] == ["bob", "ann"]


def test_bad_labels_are_refused(dataset):
    shown = _first_test(dataset)
    with pytest.raises(ValueError, match="defect type"):
        labels.save_label(Store.at(), shown.image_id, shown_version=shown.version, author="a", label=1)
    with pytest.raises(ValueError, match="bad label"):
        labels.save_label(Store.at(), shown.image_id, shown_version=shown.version, author="a", label=2)


def test_unlabeled_filter(dataset):
    shown = _first_test(dataset)
    labels.save_label(Store.at(), shown.image_id, shown_version=shown.version, author="a", label=None)
    unlabeled = labels.images_to_label(Store.at(), dataset.id, split="test", only_unlabeled=True)
    assert [s.image_id for s in unlabeled] == [shown.image_id]


def test_rank_for_labeling():
    scores = {"a": {"x": 0.1, "y": 0.5, "z": 0.8}, "b": {"x": 0.9, "y": 0.45, "z": 0.95}}
    names = ["w", "x", "y", "z"]
    by_spread = labels.rank_for_labeling(names, scores, "disagreement")
    assert [s.name for s in by_spread] == ["x", "z", "y", "w"]
    assert by_spread[0].spread == pytest.approx(0.4)
    assert by_spread[-1].methods == 0  # no scores: last
    by_uncertainty = labels.rank_for_labeling(names, scores, "uncertainty")
    assert [s.name for s in by_uncertainty][:2] == ["x", "y"]  # means 0.5 and 0.475
    with pytest.raises(ValueError, match="choose from"):
        labels.rank_for_labeling(names, scores, "random")
