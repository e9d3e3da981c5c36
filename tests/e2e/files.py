"""Files the browser scenarios make or read: the zip a person uploads, the count of images it should give, a
screenshot of a whole Streamlit page, and the README's small copy of one."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

from tests.e2e.harness import ARTIFACTS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def snap(page: Page, name: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the window is made as tall
    as that content first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = page.evaluate(
        """() => Math.max(document.body.scrollHeight,
            ...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')]
                .map(e => e.scrollHeight))"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 10_000)})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(size)
    return path


def save_for_readme(screenshot: Path, target: Path, width: int = 1000, max_bytes: int = 200_000) -> None:
    """`screenshot` at most `width` px wide, palette-quantised, made smaller until under `max_bytes`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(screenshot) as original:
        picture = original.convert("RGB")
    while True:
        scale = min(1.0, width / picture.width)
        small = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
        buffer = io.BytesIO()
        small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_bytes or width < 400:
            break
        width = int(width * 0.85)
    target.write_bytes(buffer.getvalue())


def zip_category(folder: Path, target: Path) -> Path:
    """The category folder zipped with its top folder, as someone would zip it for the upload."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return target


def distinct_images(folder: Path) -> int:
    """Images under train/ and test/ with distinct content (the importer skips duplicates by hash)."""
    digests = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for split in ("train", "test")
        for p in (folder / split).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
    }
    return len(digests)
