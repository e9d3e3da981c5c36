import numpy as np

from db import comments, store

PAGE = "dashboard/pages/inspect.py"


def _table(run_id: int):
    rows = store.get_predictions(run_id)
    return (
        [r.image_name for r in rows],
        np.array([r.label for r in rows]),
        np.array([r.score for r in rows]),
        np.array([r.score_normalized for r in rows]),
    )


def _captions(at) -> list[str]:
    return [c for image in at.image for c in image.captions]


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
    assert (
        "no attention map (the method has none)" in texts
        and "no reconstruction (the method has none)" in texts
    )
    assert len([c for c in captions if c.startswith("#")]) == min(12, len(names))  # gallery thumbnails


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


def test_open_button_and_flag_for_review(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    names, _, scores, _ = _table(results_env.autoencoder)
    second = names[int(np.argsort(-scores, kind="stable")[1])]
    at = at.button(key=f"open_{second}").click().run()
    assert not at.exception
    assert at.selectbox(key="inspect_image").value == second

    at = at.button(key="flag").click().run()
    assert not at.exception
    flags = comments.list_flags(results_env.dataset)
    assert [(f.image_name, f.author, f.run_id) for f in flags] == [
        (second, "tester", results_env.autoencoder)
    ]
    assert at.button(key="unflag").label == "Unflag"
    at = at.button(key="unflag").click().run()
    assert comments.list_flags(results_env.dataset) == []
