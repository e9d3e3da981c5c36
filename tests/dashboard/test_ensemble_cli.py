"""`python -m engine ensemble` on a real store: the latest run of each method combined and recorded in both
stores; bad requests end with one line and exit code 2."""

from __future__ import annotations

import json

from db import runs as db_runs
from db.store import Store
from engine import cli, mlflow_store


def test_cli_records_the_latest_run_of_each_method(results_env, capsys):
    assert cli.main(["ensemble", "--dataset", results_env.dataset, "--rule", "rank_mean", "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    run = db_runs.get_run(Store.at(), summary["run_id"])
    assert run.method == "ensemble" and run.status == "FINISHED"
    assert run.params["members"] == sorted(results_env.latest)
    assert f"autoencoder #{results_env.autoencoder}: image AUROC" in out
    assert summary["image_auroc"] == run.image_auroc
    low, high = summary["gain_over_best_member_low"], summary["gain_over_best_member_high"]
    assert low <= summary["gain_over_best_member"] <= high
    assert f"over the best member (95% interval {low:+.3f} to {high:+.3f})" in out
    mlrun = mlflow_store.client().get_run(run.mlflow_run_id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params["rule"] == "rank_mean" and mlrun.data.tags["workbench.method"] == "ensemble"
    assert mlrun.data.metrics["image_auroc"] == run.image_auroc


def test_cli_refuses_bad_requests(results_env, capsys):
    assert cli.main(["ensemble", "--runs", str(results_env.deep_svdd)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert cli.main(["ensemble", "--runs", f"{results_env.deep_svdd},{results_env.failed}"]) == 2
    assert f"run #{results_env.failed} is not a finished run" in capsys.readouterr().err
    assert cli.main(["ensemble"]) == 2
    assert "either --runs" in capsys.readouterr().err
    assert cli.main(["ensemble", "--runs", "a,b"]) == 2
    assert "run numbers" in capsys.readouterr().err
