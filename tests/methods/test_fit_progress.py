"""Progress while a method fits: `fit_images(on_batch=...)` reports the images of each pass over the training set,
so a feature method (PaDiM, PatchCore: one long pass, no epochs to report) shows images done / total on the
Train page from its first batches instead of sitting at 5 %; and no "loss" is shown for methods without one."""

from __future__ import annotations

import torch

from db import jobs as db_jobs
from engine import compute as compute_module
from engine import jobs
from engine.data.importer import import_dataset
from engine.data.loaders import make_loader
from engine.methods.catalog import fits_without_loss
from engine.methods.progress import CountedImages
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_mvtec_folder


def test_counted_images_reports_every_pass_from_its_start():
    loader = make_loader(torch.zeros(10, 1, 4, 4), batch_size=4, shuffle=True, repeats=2)  # 20 images a pass
    seen = []
    counted = CountedImages(loader, lambda done, total: seen.append((done, total)))
    for _ in range(2):
        assert sum(len(batch) for batch in counted) == 20
    assert seen == [(4, 20), (8, 20), (12, 20), (16, 20), (20, 20)] * 2
    assert len(counted) == len(loader) and counted.dataset is loader.dataset  # the rest is the loader's


def test_a_padim_job_shows_its_feature_pass_image_by_image(workbench_env, tmp_path, monkeypatch):
    assert fits_without_loss("padim")
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=12, n_good=2, defects={"dot": 2}, size=32), "cells"
    )
    monkeypatch.setattr(compute_module.FitPace, "REPORT_SECONDS", 0.0)  # every batch, not once a second
    written, update = [], db_jobs.update_job

    def recording(store, job_id, **fields):  # the real update, remembered on the way
        written.append(dict(fields))
        update(store, job_id, **fields)

    monkeypatch.setattr(db_jobs, "update_job", recording)
    job_id = jobs.enqueue(
        RunConfig("cells", "padim", "smoke", image_size=32, overrides=(("batch_size", "4"),))
    )
    jobs.run_worker(once=True)
    assert jobs.get_job(job_id).status == "DONE"
    passes = [(f["message"], f["progress"]) for f in written if "images" in (f.get("message") or "")]
    assert [m for m, _ in passes] == ["fit 4/12 images", "fit 8/12 images", "fit 12/12 images"]
    fractions = [p for _, p in passes]
    assert 0.05 < fractions[0] < fractions[1] < fractions[2] <= 0.85
    assert all(f.get("eta_seconds") is not None for f in written if f.get("message") == "fit 12/12 images")
