"""A zip member whose file name the file system cannot hold (over 255 bytes) is skipped by name, not the whole zip."""

from __future__ import annotations

from tests.synthetic_mvtec import make_flat_zip, png_bytes

LONG = "x" * 300 + ".png"


def test_a_file_name_over_255_bytes_is_skipped_and_the_rest_imported(engine_cli, workbench_env, tmp_path):
    import numpy as np

    extra = {LONG: png_bytes(np.full((16, 16, 3), 90, dtype=np.uint8))}
    source = tmp_path / "long.zip"
    source.write_bytes(make_flat_zip(n=6, size=16, extra=extra))

    proc = engine_cli("import", str(source), "--name", "long")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "imported 6 images into 'long'" in out
    assert f"skipped {LONG}: a name in its path is 304 bytes; the file system allows at most 255" in out
