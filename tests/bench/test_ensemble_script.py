"""benchmarks/ensemble.py's choice of members in a real SQLite store: --tuned takes the latest run of each tuned
variant (same method, settings beyond the preset and image size) whatever else the store holds."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path

from benchmarks.harness import variants
from engine.methods import get_method
from engine.methods.params import make_params

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ensemble.py"
spec = importlib.util.spec_from_file_location("ensemble_script", SCRIPT)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


def _run(method, overrides=(), size=128, status="FINISHED", weights="imagenet"):
    from db import runs as db_runs
    from db.store import Store

    params = asdict(make_params(get_method(method), "cpu", dict(overrides)))
    if "weights" in params:
        params["weights"] = weights  # as recorded: what "auto" resolved to
    run_id = db_runs.create_run(
        Store.at(), dataset_name="d", method=method, preset="cpu", params=params, seed=0, image_size=size
    )
    db_runs.update_run(Store.at(), run_id, status=status)
    return run_id


def test_tuned_members_match_each_variant_by_settings_and_image_size(workbench_env, env_store, monkeypatch):
    from db import runs as db_runs

    monkeypatch.setattr(
        variants,
        "TUNED_VARIANTS",
        [
            variants.Variant("padim (ridge 1)", "padim", (("ridge", "1"),)),
            variants.Variant("patchcore (256 px)", "patchcore", (("input_size", "320"),), image_size=256),
        ],
    )
    old_ridge = _run("padim", (("ridge", "1"),))
    _run("padim")  # the default: not a tuned variant
    _run("padim", (("ridge", "1"),), size=224)  # the right settings at another image size
    ridge = _run("padim", (("ridge", "1"),))
    _run("patchcore", (("input_size", "320"),), size=256, status="FAILED")
    _run("patchcore", (("input_size", "320"),))  # 128 px, the variant asks for 256
    patchcore = _run("patchcore", (("input_size", "320"),), size=256)
    assert script.tuned_members("d") == [ridge, patchcore]
    assert old_ridge not in script.tuned_members("d")
    assert script.describe(db_runs.get_run(env_store, ridge)) == f"#{ridge} padim 128 px ridge=1.0"
    assert script.describe(db_runs.get_run(env_store, _run("padim"))).endswith("128 px (preset)")
