from types import SimpleNamespace

from dashboard.leaderboard import leaderboard
from dashboard.run_info import latest_per_method, run_info
from dashboard.thresholds import default_threshold
from tests.dashboard.test_figures import make_run


def test_run_info_reads_the_metrics_column():
    run = SimpleNamespace(
        id=4,
        method="vae",
        preset="cpu",
        dataset_name="parts",
        image_size=64,
        status="FINISHED",
        started_at=None,
        image_auroc=0.8,
        pixel_auroc=None,
        fit_seconds=2.0,
        images_per_second=10.0,
        peak_memory_mb=500.0,
        device="cpu",
        notes="n",
        mlflow_run_id="abc",
        metrics={
            "average_precision": 0.7,
            "best_f1": 0.6,
            "best_f1_threshold_normalized": 0.55,
            "detection_rate": 0.65,
            "pro": 0.4,
            "pixel_auroc": 0.9,
            "roc": {"fpr": [0, 1], "tpr": [0, 1], "thresholds": [2, 1]},
            "auroc_per_defect_type": {"crack": 0.75},
        },
    )
    info = run_info(run)
    assert (info.label, info.average_precision, info.pro, info.pixel_auroc) == ("vae #4", 0.7, 0.4, 0.9)
    assert info.roc_fpr == (0.0, 1.0) and info.auroc_per_defect_type == {"crack": 0.75}
    assert default_threshold(info) == 0.55
    assert info.detection_rate == 0.65 and leaderboard([info])["detection rate"].tolist() == [0.65]


def test_latest_per_method():
    runs = [
        make_run(5, "vae", 0.7),
        make_run(2, "vae", 0.99),
        make_run(4, "padim", 0.9),
        make_run(6, "anogan", None),
    ]
    assert [r.id for r in latest_per_method(runs)] == [6, 4, 5]
