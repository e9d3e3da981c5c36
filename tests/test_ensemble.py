"""engine/ensemble_rules.py's rules and engine/ensemble.py's alignment on members built by hand (no store): what
each rule computes, that images are matched by name, and that combining independent noisy detectors beats each of
them; engine/ensemble_runs.py's choice of members in a real store."""

from __future__ import annotations

import numpy as np
import pytest

from engine import ensemble_rules, ensemble_runs
from engine.ensemble import Member, combine
from engine.methods.catalog import ENSEMBLE
from engine.metrics import image_auroc


def member(run_id, scores, train, labels=None, names=None, maps=None) -> Member:
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    return Member(
        run_id=run_id,
        label=f"m{run_id} #{run_id}",
        names=names or [f"img{i}" for i in range(n)],
        labels=np.asarray(labels if labels is not None else [0] * (n // 2) + [1] * (n - n // 2)),
        defect_types=["good"] * (n // 2) + ["spot"] * (n - n // 2),
        scores=scores,
        train_scores=np.asarray(train, dtype=np.float64),
        maps=np.ones((n, 4, 4), np.float32) if maps is None else maps,
    )


def test_mean_standardises_each_member_against_its_training_scores():
    a = member(1, [1.0, 3.0, 5.0, 7.0], [0.0, 2.0, 4.0])  # median 2, std sqrt(8/3)
    b = member(2, [10.0, 10.0, 30.0, 50.0], [10.0, 20.0, 30.0])  # median 20, std sqrt(200/3)
    got = combine([a, b], "mean").arrays.scores
    za = (np.array([1, 3, 5, 7]) - 2) / np.sqrt(8 / 3)
    zb = (np.array([10, 10, 30, 50]) - 20) / np.sqrt(200 / 3)
    assert got == pytest.approx((za + zb) / 2, rel=1e-5)


def test_max_margin_lets_the_member_furthest_from_its_threshold_decide():
    train = np.linspace(0, 1, 101)  # q95 = 0.95, the same spread for both members
    a = member(1, [0.95, 0.0, 0.95, 5.0], train)
    b = member(2, [3.0, 0.95, 0.95, 0.0], train)
    got = combine([a, b], "max_margin").arrays.scores
    spread = np.std(train)
    # image 0: b is 2.05 above, a at its threshold; image 1: a is 0.95 below; image 3: a is 4.05 above
    expected = np.array([3.0 - 0.95, 0.0 - 0.95, 0.0, 5.0 - 0.95]) / spread
    assert got == pytest.approx(expected, abs=1e-5)


def test_rank_mean_averages_ranks_with_ties_counted_half():
    a = member(1, [1.0, 2.0, 3.0, 4.0], [0.0, 1.0])
    b = member(2, [4.0, 4.0, 1.0, 9.0], [0.0, 1.0])
    got = combine([a, b], "rank_mean").arrays.scores
    rank_a = np.array([0.5, 1.5, 2.5, 3.5]) / 4
    rank_b = np.array([2.0, 2.0, 0.5, 3.5]) / 4
    assert got == pytest.approx((rank_a + rank_b) / 2)


def test_images_are_matched_by_name_and_maps_resized_to_the_first_member():
    a = member(1, [0.0, 1.0, 2.0, 3.0], [0.0, 1.0], labels=[0, 0, 1, 1], names=["w", "x", "y", "z"])
    b = member(  # other order, one image fewer (x), one extra (q), maps at 8 px
        2,
        [30.0, 20.0, 0.0, 99.0],
        [0.0, 1.0],
        labels=[1, 1, 0, 1],
        names=["z", "y", "w", "q"],
        maps=np.zeros((4, 8, 8), np.float32),
    )
    out = combine([a, b], "mean")
    assert out.arrays.names == ["w", "y", "z"]
    assert list(out.arrays.labels) == [0, 1, 1]
    assert out.arrays.anomaly_maps.shape == (3, 4, 4)
    assert out.metrics["n_test"] == 3
    zb = (np.array([0.0, 20.0, 30.0]) - 0.5) / 0.5
    za = (np.array([0.0, 2.0, 3.0]) - 0.5) / 0.5
    assert out.arrays.scores == pytest.approx((za + zb) / 2)
    assert out.arrays.embeddings.shape == (3, 2) and out.arrays.train_embeddings.shape == (2, 2)


def test_members_scored_on_different_labels_are_refused():
    a = member(1, [0.0, 1.0], [0.0, 1.0], labels=[0, 1])
    b = member(2, [0.0, 1.0], [0.0, 1.0], labels=[1, 1])
    with pytest.raises(ValueError, match="different labels.*re-score"):
        combine([a, b])


def test_bad_requests_name_what_to_do():
    a = member(1, [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="at least two"):
        combine([a])
    with pytest.raises(ValueError, match="max_margin"):
        combine([a, a], "median")
    other = member(2, [0.0, 1.0], [0.0, 1.0], names=["p", "q"])
    with pytest.raises(ValueError, match="share no scored image"):
        combine([a, other])


@pytest.mark.parametrize("rule", sorted(ensemble_rules.RULES))
def test_independent_noisy_detectors_combine_into_a_better_one(rule):
    rng = np.random.default_rng(0)
    labels = np.array([0] * 200 + [1] * 200)
    members = []
    for k in range(4):  # each sees the anomaly through its own noise, on its own scale and offset
        scale, offset = 10.0**k, 5.0 * k
        test = offset + scale * (labels + rng.normal(0, 1.2, labels.size))
        train = offset + scale * rng.normal(0, 1.2, 100)
        members.append(member(k, test, train, labels=labels))
    out = combine(members, rule)
    best = max(image_auroc(labels, m.scores) for m in members)
    assert out.metrics["image_auroc"] > best + 0.03
    assert out.metrics["gain_over_best_member"] == pytest.approx(out.metrics["image_auroc"] - best)
    assert set(out.metrics["member_image_auroc"]) == {m.label for m in members}
    # 400 images and independent noise: the paired interval of the gain lies above 0
    assert 0 < out.metrics["gain_over_best_member_low"] < out.metrics["gain_over_best_member"]
    assert out.metrics["gain_over_best_member"] < out.metrics["gain_over_best_member_high"]


def test_a_copy_of_the_best_member_gains_nothing_with_certainty():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 30)
    test, train = labels + rng.normal(0, 1, labels.size), rng.normal(0, 1, 50)
    out = combine(
        [member(0, test, train, labels=labels), member(1, test.copy(), train, labels=labels)], "mean"
    )
    low, high = out.metrics["gain_over_best_member_low"], out.metrics["gain_over_best_member_high"]
    assert out.metrics["gain_over_best_member"] == pytest.approx(0) and low == high == pytest.approx(0)


def test_latest_members_by_method_or_by_setting_in_a_real_store(workbench_env, env_store):
    from db import runs as db_runs

    def run(method, params, size=128, status="FINISHED", dataset="d"):
        run_id = db_runs.create_run(
            env_store,
            dataset_name=dataset,
            method=method,
            preset="cpu",
            params=params,
            seed=0,
            image_size=size,
        )
        db_runs.update_run(env_store, run_id, status=status)
        return run_id

    old_default = run("padim", {"ridge": 0.01})
    fine = run("padim", {"ridge": 0.01, "layers": "layer1"})
    big = run("padim", {"ridge": 0.01}, size=224)  # same params, another image size: its own setting
    new_default = run("padim", {"ridge": 0.01})
    patchcore = run("patchcore", {})
    run("patchcore", {}, status="FAILED")  # unfinished runs are never members
    run("padim", {}, dataset="other")
    run(ENSEMBLE, {})
    assert ensemble_runs.latest_members("d") == [new_default, patchcore]
    assert ensemble_runs.latest_members("d", by="settings") == [fine, big, new_default, patchcore]
    assert old_default not in ensemble_runs.latest_members("d", by="settings")
    with pytest.raises(ValueError, match="by='run'.*choose from \\['method', 'settings'\\]"):
        ensemble_runs.latest_members("d", by="run")
