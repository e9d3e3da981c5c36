import numpy as np

from dashboard import gallery_view
from db import comments
from db import runs as db_runs
from db.store import Store
from tests.dashboard.plotly_spec import gallery_grid

PAGE = "dashboard/pages/inspect.py"


def _table(run_id: int):
    rows = db_runs.get_predictions(Store.at(), run_id)
    return (
        [r.image_name for r in rows],
        np.array([r.label for r in rows]),
        np.array([r.score for r in rows]),
        np.array([r.score_normalized for r in rows]),
    )


def _captions(at) -> list[str]:
    return [c for image in at.image for c in image.captions]


def _grid_names(at) -> list[str]:
    return [c[0] for c in gallery_grid(at)["data"][0]["customdata"]]


def _ringed(at) -> list[str]:
    """Names of the thumbnails with the ring of the open image."""
    spec = gallery_grid(at)
    names = _grid_names(at)
    centres = list(zip(spec["data"][0]["x"], spec["data"][0]["y"], strict=True))
    rings = [((s["x0"] + s["x1"]) / 2, (s["y0"] + s["y1"]) / 2) for s in spec["layout"].get("shapes", [])]
    return [names[centres.index(r)] for r in rings]


def test_default_image_is_the_top_scored_and_each_run_has_its_row(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    names, labels, scores, _ = _table(results_env.autoencoder)  # the reference: first selected run
    top = names[int(np.argmax(scores))]
    assert at.selectbox(key="inspect_image").value == top
    assert at.selectbox(key="inspect_image").options[:3] == [
        at.selectbox(key="inspect_image").format_func(n) for n in np.array(names)[np.argsort(-scores)][:3]
    ]
    headers = [m.value for m in at.markdown if m.value.startswith("#####")]
    assert headers == [
        f"##### autoencoder #{results_env.autoencoder} · smoke",
        f"##### deep_svdd #{results_env.deep_svdd} · smoke",
    ]

    facts = " ".join(m.value for m in at.markdown)
    for run_id in results_env.latest:
        run_names, _, run_scores, run_norm = _table(run_id)
        i = run_names.index(top)
        rank = int((run_scores > run_scores[i]).sum()) + 1
        assert f"score **{run_scores[i]:.4g}**" in facts
        assert f"normalised **{run_norm[i]:.2f}**" in facts
        assert f"rank **{rank}** of {len(run_names)}" in facts

    captions = _captions(at)
    assert captions.count("reconstruction") == 1  # autoencoder only
    assert captions.count("attention") == 1  # deep_svdd only
    assert captions.count("error map (scale shared by the run)") == 2
    assert sum(c.startswith("input") for c in captions) == 2
    texts = [c.value for c in at.caption]
    assert any(t.startswith("No attention map: the method has none.") for t in texts)  # autoencoder's row
    assert any(t.startswith("No reconstruction: the method has none.") for t in texts)  # deep_svdd's row
    order = list(np.array(names)[np.argsort(-scores, kind="stable")])
    assert _grid_names(at) == order  # 14 images: all on the first page, most anomalous first
    tile_captions = [a["text"] for a in gallery_grid(at)["layout"]["annotations"]]
    top_norm = float(np.asarray(_table(results_env.autoencoder)[3])[names.index(top)])
    assert tile_captions[0] == f"#1 · {top_norm:.2f}" and len(tile_captions) == len(names)
    assert _ringed(at) == [top]
    assert f"page 1 of 1 · images 1-{len(names)} of {len(names)}" in " ".join(c.value for c in at.caption)


def test_false_positives_and_negatives_follow_the_thresholds(results_env, app):
    run_id = results_env.autoencoder
    names, labels, scores, norm = _table(run_id)
    at = app(PAGE, dataset=results_env.dataset, thresholds={run_id: 0.0})
    at = at.radio(key="inspect_source").set_value("false positives").run()
    assert not at.exception
    expected = [names[i] for i in np.argsort(-scores, kind="stable") if labels[i] == 0]
    assert at.selectbox(key="inspect_image").options == [
        at.selectbox(key="inspect_image").format_func(n) for n in expected
    ]
    assert at.selectbox(key="inspect_image").value == expected[0]
    assert "6 false positives" in " ".join(c.value for c in at.caption)

    svdd = results_env.deep_svdd  # its anomalies are not all clipped to 1.0, so some fall below 0.3
    names, labels, scores, norm = _table(svdd)
    at.session_state["thresholds"] = {run_id: 0.0, svdd: 0.3}
    at = at.selectbox(key="inspect_reference").set_value(svdd).run()
    at = at.radio(key="inspect_source").set_value("false negatives").run()
    assert not at.exception
    misses = [names[i] for i in np.argsort(-scores, kind="stable")[::-1] if labels[i] == 1 and norm[i] < 0.3]
    assert misses
    picker = at.selectbox(key="inspect_image")
    assert picker.options == [picker.format_func(n) for n in misses] and picker.value == misses[0]
    assert "false negative" in " ".join(m.value for m in at.markdown)  # the verdict in its row


def test_no_false_negatives_says_so(results_env, app):
    at = app(PAGE, dataset=results_env.dataset, thresholds={results_env.autoencoder: 0.0})
    at = at.radio(key="inspect_source").set_value("false negatives").run()
    assert not at.exception
    assert at.info[0].value.startswith("No false negatives")


def _click(at, name: str, page: int = 1):
    """What a click on a thumbnail sends: the grid chart's selection of that image's point."""
    key = gallery_view.grid_key(page, at.selectbox(key="inspect_image").value)
    at.session_state[key] = {"selection": {"points": [{"customdata": [name]}]}}
    return at.run()


def test_a_click_on_a_thumbnail_opens_it_and_flag_for_review(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    names, _, scores, _ = _table(results_env.autoencoder)
    second = names[int(np.argsort(-scores, kind="stable")[1])]
    at = _click(at, second)
    assert not at.exception
    assert at.selectbox(key="inspect_image").value == second
    assert _ringed(at) == [second]
    assert at.markdown and at.subheader[0].value.startswith(second)

    at = at.button(key="flag").click().run()
    assert not at.exception
    flags = comments.list_flags(Store.at(), results_env.dataset)
    assert [(f.image_name, f.author, f.run_id) for f in flags] == [
        (second, "tester", results_env.autoencoder)
    ]
    assert at.button(key="unflag").label == "Unflag"
    at = at.button(key="unflag").click().run()
    assert comments.list_flags(Store.at(), results_env.dataset) == []


def _order(run_id: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Names, labels, defect types and normalised scores of a run, most anomalous first."""
    rows = sorted(db_runs.get_predictions(Store.at(), run_id), key=lambda r: -r.score)
    return (
        [r.image_name for r in rows],
        np.array([r.label for r in rows]),
        [r.defect_type for r in rows],
        np.array([r.score_normalized for r in rows]),
    )


def test_gallery_filters_by_label_defect_type_score_and_flag(results_env, app):
    names, labels, types, norm = _order(results_env.autoencoder)
    at = app(PAGE, dataset=results_env.dataset)
    at = at.radio(key="gallery_label").set_value("anomalous").run()
    assert not at.exception
    anomalous = [n for n, lab in zip(names, labels, strict=True) if lab == 1]
    assert _grid_names(at) == anomalous and len(anomalous) == 8
    assert at.selectbox(key="inspect_image").value == anomalous[0]  # the open image follows the filter

    at = at.multiselect(key="gallery_types").set_value(["spot"]).run()
    spots = [n for n, t in zip(names, types, strict=True) if t == "spot"]
    assert _grid_names(at) == spots and len(spots) == 4
    assert at.selectbox(key="inspect_image").options == [
        at.selectbox(key="inspect_image").format_func(n) for n in spots
    ]

    at = at.radio(key="gallery_label").set_value("all").run()
    at = at.multiselect(key="gallery_types").set_value([]).run()
    lo = float(np.sort(norm)[len(norm) // 2])  # the upper half of the scores
    at = at.slider(key="gallery_scores").set_value((lo, 1.0)).run()
    assert _grid_names(at) == [n for n, v in zip(names, norm, strict=True) if lo <= v]

    at = at.slider(key="gallery_scores").set_value((0.0, 1.0)).run()
    at = at.toggle(key="gallery_flagged").set_value(True).run()
    assert not at.get("plotly_chart") or not [
        c for c in at.get("plotly_chart") if "gallery_grid_" in c.proto.id
    ]
    assert "No images match the gallery filters" in at.info[0].value
    comments.flag_image(Store.at(), results_env.dataset, names[5], "ann", run_id=results_env.autoencoder)
    at = at.run()
    assert _grid_names(at) == [names[5]]
    assert gallery_grid(at)["layout"]["annotations"][0]["text"].endswith("⚑")


def test_pages_of_the_gallery_and_page_one_after_a_filter_change(results_env, app, monkeypatch):
    monkeypatch.setattr("dashboard.gallery.PAGE_SIZE", 4)
    names, labels, _, _ = _order(results_env.autoencoder)
    at = app(PAGE, dataset=results_env.dataset)
    assert _grid_names(at) == names[:4]
    assert "page 1 of 4 · images 1-4 of 14" in " ".join(c.value for c in at.caption)

    at = at.get("pagination")[0].set_value(4).run()
    assert not at.exception
    assert _grid_names(at) == names[12:]
    assert "page 4 of 4 · images 13-14 of 14" in " ".join(c.value for c in at.caption)
    assert at.query_params["g_page"] == "4"
    at = _click(at, names[13], page=4)
    assert at.selectbox(key="inspect_image").value == names[13]

    at = at.radio(key="gallery_label").set_value("normal").run()
    normal = [n for n, lab in zip(names, labels, strict=True) if lab == 0]
    assert _grid_names(at) == normal[:4]
    assert "page 1 of 2 · images 1-4 of 6" in " ".join(c.value for c in at.caption)
    assert "g_page" not in at.query_params and at.query_params["g_label"] == "normal"


def test_a_link_restores_the_gallery_filter_and_page(results_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import PROJECT

    monkeypatch.setattr("dashboard.gallery.PAGE_SIZE", 2)
    names, _, types, norm = _order(results_env.autoencoder)
    at = AppTest.from_file(str(PROJECT / PAGE), default_timeout=60)
    at.session_state["user"], at.session_state["dataset"] = "tester", results_env.dataset
    at.query_params.update({"g_label": "anomalous", "g_type": ["square", "spot"], "g_score": "0.00-1.00"})
    at.query_params["g_page"] = "2"
    at = at.run()
    assert not at.exception
    assert at.radio(key="gallery_label").value == "anomalous"
    assert at.multiselect(key="gallery_types").value == ["square", "spot"]
    anomalous = [n for n, t in zip(names, types, strict=True) if t != "good"]
    assert _grid_names(at) == anomalous[2:4]
    assert "page 2 of 4" in " ".join(c.value for c in at.caption)


def test_the_filter_comes_back_after_another_page_ran(results_env, app):
    from dashboard.gallery import GalleryFilter

    # what the Inspect page left in the session before the user went to another page and back
    at = app(PAGE, dataset=results_env.dataset, gallery_saved=(GalleryFilter(label="normal"), 1))
    assert not at.exception
    assert at.radio(key="gallery_label").value == "normal"
    names, labels, _, _ = _order(results_env.autoencoder)
    assert _grid_names(at) == [n for n, lab in zip(names, labels, strict=True) if lab == 0]
