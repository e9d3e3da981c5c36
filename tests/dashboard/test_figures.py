import numpy as np
import pytest

from dashboard import embedding_figures, figures
from dashboard.projection import EmbeddingMap
from dashboard.run_info import RunInfo
from dashboard.thresholds import confusion_at


def make_run(
    run_id: int,
    method: str,
    auroc: float | None,
    per_type: dict | None = None,
    roc=((0, 0.5, 1), (0, 0.9, 1)),
) -> RunInfo:
    return RunInfo(
        id=run_id,
        method=method,
        preset="smoke",
        dataset="parts",
        image_size=32,
        status="FINISHED",
        started_at=None,
        image_auroc=auroc,
        average_precision=0.8,
        best_f1=0.7,
        best_f1_threshold_normalized=0.6,
        pixel_auroc=None,
        pro=None,
        fit_seconds=1.5,
        images_per_second=40.0,
        peak_memory_mb=900.0,
        device="cpu",
        roc_fpr=tuple(roc[0]) if auroc is not None else (),
        roc_tpr=tuple(roc[1]) if auroc is not None else (),
        auroc_per_defect_type=per_type or {},
    )


def test_roc_figure_has_one_curve_per_run_named_with_auroc():
    runs = [
        make_run(3, "vae", 0.91234),
        make_run(7, "padim", 0.5, roc=((0, 1), (0, 1))),
        make_run(9, "anogan", None),
    ]
    fig = figures.roc_figure(runs)
    names = [t.name for t in fig.data]
    assert names == ["chance", "vae #3 (AUROC 0.912)", "padim #7 (AUROC 0.500)"]  # no curve without a ROC
    assert list(fig.data[1].x) == [0, 0.5, 1] and list(fig.data[1].y) == [0, 0.9, 1]
    assert fig.data[1].line.color != fig.data[2].line.color


def test_defect_auroc_figure_groups_bars_by_type_and_leaves_gaps():
    runs = [make_run(1, "vae", 0.9, {"crack": 0.8, "hole": 0.95}), make_run(2, "padim", 0.7, {"crack": 0.6})]
    fig = figures.defect_auroc_figure(runs)
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["vae #1", "padim #2"]
    assert list(fig.data[0].x) == ["crack", "hole"] and list(fig.data[0].y) == [0.8, 0.95]
    assert list(fig.data[1].y) == [0.6, None] and list(fig.data[1].text) == ["0.60", "–"]


def test_confusion_figure_shows_counts_in_truth_by_call_layout():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.2, 0.7, 0.3])
    confusion = confusion_at(labels, scores, 0.5)
    fig = figures.confusion_figure(confusion, "vae #1")
    assert np.array(fig.data[0].z).tolist() == [[2, 1], [1, 1]]
    assert fig.layout.title.text == "vae #1 at 0.500"  # the threshold as it is counted, to 0.001
    assert fig.data[0].text[0][1] == "FP<br>1" and fig.data[0].text[1][1] == "TP<br>1"


def _emap(with_train: bool = True) -> EmbeddingMap:
    return EmbeddingMap(
        test=np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 1.0]]),
        train=np.array([[0.1, 0.1], [0.2, 0.0]]) if with_train else np.zeros((0, 2)),
        centroid=np.array([0.15, 0.05]),
        names=("test/good/0.png", "test/crack/0.png", "test/hole/0.png", "test/good/1.png"),
        labels=np.array([0, 1, 1, 0]),
        defect_types=("good", "crack", "hole", "good"),
        scores=np.array([0.1, 2.0, 3.0, 0.2]),
    )


def test_embedding_figure_by_label_marks_centroid_and_carries_hover_data():
    fig = embedding_figures.embedding_figure(_emap(), "label", "vae #1")
    assert [t.name for t in fig.data] == ["train (normal)", "normal (2)", "anomalous (2)", "normal centroid"]
    anomalous = fig.data[2]
    assert list(anomalous.x) == [1.0, 2.0]
    assert [list(c) for c in anomalous.customdata] == [
        ["test/crack/0.png", "anomalous", 2.0],
        ["test/hole/0.png", "anomalous", 3.0],
    ]
    assert "%{customdata[0]}" in anomalous.hovertemplate and "score" in anomalous.hovertemplate
    centroid = fig.data[3]
    assert centroid.marker.symbol == "star" and list(centroid.x) == [0.15]
    assert fig.layout.title.text == "vae #1 (t-SNE)"


def test_embedding_figure_by_defect_type_and_without_training_sample():
    fig = embedding_figures.embedding_figure(_emap(with_train=False), "defect type")
    assert [t.name for t in fig.data] == ["good (2)", "crack (1)", "hole (1)", "normal centroid"]
    assert len({t.marker.color for t in fig.data[:3]}) == 3
    with pytest.raises(ValueError, match="choose from"):
        embedding_figures.embedding_figure(_emap(), "score")


def test_a_run_keeps_its_colour_whatever_is_chosen_with_it():
    a, b = make_run(3, "padim", 0.9, {"crack": 0.8}), make_run(7, "vae", 0.7, {"crack": 0.6})

    def colours(fig, kind):
        return {
            t["name"].split(" (")[0]: t[kind]["color"] for t in fig.to_dict()["data"] if t["name"] != "chance"
        }

    both, alone = colours(figures.roc_figure([a, b]), "line"), colours(figures.roc_figure([b]), "line")
    assert both["vae #7"] == alone["vae #7"] and both["padim #3"] != both["vae #7"]
    assert colours(figures.defect_auroc_figure([b, a]), "marker") == both


def test_a_defect_type_keeps_its_colour_in_every_panel():
    full = _emap()
    only_hole = EmbeddingMap(**{**full.__dict__, "defect_types": ("good", "hole", "hole", "good")})

    def colours(emap):
        fig = embedding_figures.embedding_figure(emap, colour_by="defect type").to_dict()
        return {t["name"].split(" (")[0]: t["marker"]["color"] for t in fig["data"] if "(" in t["name"]}

    assert colours(full)["hole"] == colours(only_hole)["hole"] != colours(full)["crack"]
    assert colours(full)["good"] == figures.NORMAL_COLOUR


def test_the_selected_image_is_ringed_on_its_point_without_entering_the_legend():
    fig = embedding_figures.embedding_figure(_emap(), "label", selected="test/hole/0.png")
    ring = fig.data[-1]
    assert ring.name == embedding_figures.SELECTED and ring.showlegend is False
    assert (list(ring.x), list(ring.y)) == ([2.0], [0.5])  # where test/hole/0.png lies
    assert ring.marker.symbol == "circle-open" and ring.hoverinfo == "skip"
    names = [t.name for t in embedding_figures.embedding_figure(_emap(), selected="not/in/this/run.png").data]
    assert embedding_figures.SELECTED not in names
