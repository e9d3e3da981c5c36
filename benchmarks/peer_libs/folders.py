"""MVTec-layout folders for the peer libraries: finding one (`resolve_dataset`), its train and test items capped
for smoke runs (`scan_folder`), and linking them into anomalib's `Folder` layout (`stage_for_anomalib`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.peer_libs.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
DEFAULT_DATASETS = [
    "piped/pa_bdp01_tl",
    "piped/pa_brg01_rl",
    "piped/pa_flr01_tl",
    "magnetic_tile/magnetic_tile",
    "mvtec_3d_ad/tire",
]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass
class TestItem:
    path: Path
    label: int  # 0 normal, 1 anomalous
    defect: str
    mask: Path | None


@dataclass
class FolderData:
    """An MVTec-layout category: its train images, test items, and whether it is grayscale."""

    name: str
    root: Path
    train: list[Path]
    test: list[TestItem]
    channels: int
    notes: list[str] = field(default_factory=list)

    @property
    def has_all_masks(self) -> bool:
        return any(t.label for t in self.test) and all(t.mask is not None for t in self.test if t.label)


def resolve_dataset(name: str) -> Path:
    """A folder under the shared datasets, or a path; fails listing the shared choices."""
    for candidate in (SHARED_DATASETS / name, Path(name)):
        if (candidate / "train" / "good").is_dir() and (candidate / "test").is_dir():
            return candidate.resolve()
    raise SystemExit(
        f"error: dataset {name!r} is not an MVTec-layout folder (train/good, test/<type>); "
        f"give a path or one of {DEFAULT_DATASETS}"
    )


def _images(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    )


def scan_folder(root: Path, settings: Settings, seed: int) -> FolderData:
    """Train and test items of an MVTec folder, capped for smoke runs (seeded)."""
    train = _images(root / "train" / "good")
    test: list[TestItem] = []
    for defect_dir in sorted(p for p in (root / "test").iterdir() if p.is_dir()):
        defect = defect_dir.name
        for image in _images(defect_dir):
            mask = root / "ground_truth" / defect / f"{image.stem}_mask.png"
            label = 0 if defect == "good" else 1
            test.append(TestItem(image, label, defect, mask if label and mask.is_file() else None))
    if not train or not any(t.label for t in test) or all(t.label for t in test):
        raise SystemExit(f"error: {root} needs train/good images and both good and defect test images")
    rng = np.random.default_rng(seed)
    if settings.max_train is not None and len(train) > settings.max_train:
        train = sorted(rng.choice(np.array(train, dtype=object), settings.max_train, replace=False))
    if settings.max_test_per_class is not None:
        kept: list[TestItem] = []
        for label in (0, 1):
            group = [t for t in test if t.label == label]
            if len(group) > settings.max_test_per_class:
                picks = sorted(rng.choice(len(group), settings.max_test_per_class, replace=False))
                group = [group[i] for i in picks]
            kept += group
        test = kept
    channels = 1 if all(_is_gray(p) for p in train) else 3
    return FolderData(root.name, root, train, test, channels)


def _is_gray(path: Path) -> bool:
    with Image.open(path) as image:
        if image.mode in GRAY_MODES:
            return True
        if image.mode not in ("RGB", "RGBA", "P"):
            return False
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() == 0 and np.abs(rgb[..., 1] - rgb[..., 2]).max() == 0)


def stage_for_anomalib(data: FolderData, where: Path) -> dict[str, object]:
    """Symlink the (possibly capped) items into anomalib's `Folder` layout and return its directory arguments.

    Masks are linked under the image's own file name: anomalib pairs abnormal images with masks by sorted
    path order, which `<stem>_mask.png` names can break (e.g. `a1` vs `a`)."""
    for path in data.train:
        _link(path, where / "train" / "good" / path.name)
    defects = sorted({t.defect for t in data.test if t.label})
    for t in data.test:
        _link(t.path, where / "test" / t.defect / t.path.name)
        if t.label and t.mask is not None and data.has_all_masks:
            _link(t.mask, where / "masks" / t.defect / t.path.name)
    return {
        "root": where,
        "normal_dir": "train/good",
        "abnormal_dir": [f"test/{d}" for d in defects],
        "normal_test_dir": "test/good",
        "mask_dir": [f"masks/{d}" for d in defects] if data.has_all_masks else None,
    }


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(source.resolve())
    except OSError:  # filesystems without symlinks
        shutil.copy(source, target)
