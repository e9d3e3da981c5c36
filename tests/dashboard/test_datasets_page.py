import io
import zipfile
from pathlib import Path

import pytest

from dashboard.datasets_view import stage_upload
from db import datasets as db_datasets
from db import runs as db_runs
from db.datasets import summaries
from db.store import Store
from engine.data.importer import import_dataset
from engine.data.types import DatasetError
from tests.synthetic_mvtec import make_flat_zip, make_mvtec_folder

PAGE = "dashboard/pages/datasets.py"


def test_overview_counts_and_pictures(dashboard_env, app):
    at = app(PAGE, dataset="toy")
    assert not at.exception
    table = at.dataframe[0].value.set_index("dataset")
    assert {"mnist", "mnist-noisy", "toy"} <= set(table.index)
    toy = table.loc["toy"]
    assert (toy["train normal"], toy["test normal"], toy["test anomalous"], toy["runs"]) == (16, 6, 6, 2)
    assert toy["defect types"] == "square (6)"
    assert list(table.columns)[-1] == "defect types"  # the long text last, so it pushes no column off
    assert table.loc["mnist", "train normal"] > 0 and table.loc["mnist", "test anomalous"] > 0
    assert at.selectbox(key="pictures_of").value == "toy"
    captions = [c for image in at.image for c in image.captions]
    assert len(captions) == 12  # 4 per group: train/good, test/good, test/square
    assert captions.count("train/good") == captions.count("test/square") == 4


def _upload(at, name: str, files: list[tuple[str, bytes, str]]):
    at.text_input[0].input(name)
    at.file_uploader[0].set_value(files)
    at.form_submit_button[0].click()
    return at.run()


def test_upload_through_the_page_reports_skipped_files(fresh_env, app):
    at = app(PAGE)
    first = zipfile.ZipFile(io.BytesIO(make_flat_zip(n=5))).read("img_00.png")
    zipped = make_flat_zip(n=5, extra={"broken.png": b"not a png", "zz_copy.png": first})
    at = _upload(at, "line-3", [("line 3.zip", zipped, "application/zip")])
    assert not at.exception
    assert "Imported 5 images into **line-3**" in at.success[0].value
    skipped = at.dataframe[2].value
    assert list(skipped["file"]) == ["train/good/broken.png"]
    duplicates = at.dataframe[3].value
    assert (list(duplicates["file"]), list(duplicates["same as"])) == (
        ["train/good/zz_copy.png"],
        ["train/good/img_00.png"],
    )
    assert db_datasets.get_dataset(Store.at(), "line-3").kind == "flat"


def test_corrupt_zip_is_refused_with_its_name(fresh_env, app):
    at = _upload(app(PAGE), "bad", [("broken-upload.zip", b"PK\x03\x04 truncated", "application/zip")])
    assert not at.exception
    assert "broken-upload.zip" in at.error[0].value and "cannot read zip" in at.error[0].value
    assert db_datasets.get_dataset(Store.at(), "bad") is None


def test_delete_needs_the_typed_name_and_keeps_runs(fresh_env, app, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=4, n_good=2, defects={"dent": 2}, size=16), "doomed"
    )
    run_id = db_runs.create_run(
        Store.at(), dataset_name="doomed", method="vae", preset="smoke", params={}, seed=0, image_size=16
    )
    at = app(PAGE)
    at.selectbox(key="delete_name").select("doomed").run()
    assert at.button(key="delete_button").disabled
    at.text_input(key="delete_confirm").input("doomed").run()
    assert not at.button(key="delete_button").disabled
    at.button(key="delete_button").click().run()
    assert not at.exception
    assert db_datasets.get_dataset(Store.at(), "doomed") is None
    assert [s.name for s in summaries(Store.at())] == []
    assert db_runs.get_run(Store.at(), run_id).dataset_name == "doomed"  # runs stay readable
    assert "doomed" not in list(at.dataframe[0].value["dataset"])


def test_upload_of_images_with_a_corrupt_file_reports_it(fresh_env, tmp_path):
    flat = zipfile.ZipFile(io.BytesIO(make_flat_zip(n=4)))
    files = [(name, flat.read(name)) for name in flat.namelist()]
    files += [("../../etc/evil name.png", files[0][1]), ("broken.png", b"not an image"), ("notes.txt", b"hi")]
    staged, refused = stage_upload(files, tmp_path / "stage")
    assert sorted(p.name for p in staged.iterdir()) == [
        "broken.png",
        "evil_name.png",
        "img_00.png",
        "img_01.png",
        "img_02.png",
        "img_03.png",
    ]
    assert [name for name, _ in refused] == ["notes.txt"]
    report = import_dataset(staged, "uploaded")
    assert report.kind == "flat" and report.total == 4
    assert [name for name, _ in report.skipped] == ["train/good/broken.png"]
    assert [name for name, _ in report.duplicates] == ["train/good/img_00.png"]  # same bytes as evil_name.png


def test_upload_of_a_zip_and_refusals(fresh_env, tmp_path):
    staged, refused = stage_upload([("My Set.zip", make_flat_zip(n=3))], tmp_path / "a")
    assert staged.name == "upload.zip" and refused == []
    assert import_dataset(staged, "zipped").total == 3
    with pytest.raises(DatasetError, match="either one zip or image files"):
        stage_upload([("a.zip", b"x"), ("b.png", b"y")], tmp_path / "b")
    corrupt, _ = stage_upload([("bad.zip", b"PK\x03\x04 truncated")], tmp_path / "c")
    with pytest.raises(DatasetError, match="cannot read zip"):
        import_dataset(corrupt, "corrupt")


def test_an_upload_the_server_cannot_store_is_one_sentence(fresh_env, app):
    Path(fresh_env["WORKBENCH_DATA_DIR"]).write_text("a file where the data directory goes")
    at = _upload(app(PAGE), "line-4", [("line 4.zip", make_flat_zip(n=3), "application/zip")])
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Upload 'line 4.zip' could not be stored on the server (the log there has the details)."
    ]


@pytest.mark.parametrize("name", [".workers", ".exports"])
def test_names_of_internal_folders_are_refused(fresh_env, app, name):
    at = _upload(app(PAGE), name, [("x.zip", make_flat_zip(n=3), "application/zip")])
    assert not at.exception
    assert "start with a letter or digit" in at.error[0].value
    assert db_datasets.get_dataset(Store.at(), name) is None


def test_an_empty_name_names_the_dataset_after_its_zip(fresh_env, app):
    at = _upload(app(PAGE), "", [("Bottle line 3.zip", make_flat_zip(n=3), "application/zip")])
    assert not at.exception
    assert "Imported 3 images into **Bottle-line-3**" in at.success[0].value
    assert db_datasets.get_dataset(Store.at(), "Bottle-line-3") is not None


def test_refusals_name_the_upload_never_a_server_path(fresh_env, app):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes/readme.txt", "no images here")
    at = _upload(app(PAGE), "empty-set", [("empty.zip", buffer.getvalue(), "application/zip")])
    assert not at.exception
    message = at.error[0].value
    assert "empty.zip" in message
    assert (
        fresh_env["WORKBENCH_DATA_DIR"] not in message and ".import-" not in message and "/tmp" not in message
    )


def test_messages_for_people_drop_paths_and_class_names():
    from dashboard.messages import for_people

    text = "engine.data.types.DatasetError: no images directly inside /srv/data/.import-x-1/source; add some"
    assert for_people(text) == "no images directly inside the upload; add some"
    kept = "cannot decode image train/good/a.png: epoch 2/10; layout <root>/train/good/*.png"
    assert for_people(kept) == kept


def test_after_an_import_the_form_starts_empty_for_the_next_upload(fresh_env, app):
    at = _upload(app(PAGE), "line-5", [("line 5.zip", make_flat_zip(n=3), "application/zip")])
    assert "Imported 3 images into **line-5**" in at.success[0].value
    # a kept file would be uploaded again beside the next one: "not 1 zip(s) with 1 other file(s)"
    assert not at.file_uploader[0].value and at.text_input[0].value == ""
    at = _upload(at, "line-6", [("line 6.zip", make_flat_zip(n=4, seed=2), "application/zip")])
    assert not at.exception and not at.error
    assert "Imported 4 images into **line-6**" in at.success[0].value


def test_a_text_file_in_a_zip_is_named_among_the_skipped(fresh_env, app):
    zipped = make_flat_zip(n=3, extra={"notes.txt": b"line 3, camera 2", "__MACOSX/._img_00.png": b"x"})
    at = _upload(app(PAGE), "line-7", [("line 7.zip", zipped, "application/zip")])
    assert not at.exception
    assert "1 file(s) skipped" in at.warning[0].value
    skipped = at.dataframe[2].value
    assert list(skipped["file"]) == ["notes.txt"]
    assert skipped["reason"][0].startswith("not an image (.txt); only .bmp, ")


def test_runs_count_as_numbers_for_built_in_sets_too(fresh_env, app):
    from db import runs as db_runs
    from db.store import Store

    for dataset in ("mnist:3", "mnist:3", "mnist"):
        db_runs.create_run(
            Store.at(), dataset_name=dataset, method="vae", preset="smoke", params={}, seed=0, image_size=28
        )
    table = app(PAGE).dataframe[0].value.set_index("dataset")
    assert table.loc["mnist", "runs"] == 3 and table.loc["mnist-noisy", "runs"] == 0  # never None
    assert table["runs"].notna().all()


def test_the_staging_folder_of_a_killed_upload_is_removed(fresh_env):
    from engine.data.leftovers import UPLOAD_PREFIX, owned, tidy_data_dir

    data = Path(fresh_env["WORKBENCH_DATA_DIR"])
    killed, running = data / f"{UPLOAD_PREFIX}killed", data / f"{UPLOAD_PREFIX}running"
    for folder in (killed, running):
        (folder / "images").mkdir(parents=True)
    (killed / ".owner").write_text("host:123\n")  # marked by a server that has died: no lock held
    with owned(running):  # an upload being imported right now
        said = tidy_data_dir(data)
        assert running.is_dir()
    assert not killed.exists()
    assert said == [f"removed 1 staging folder(s) of killed imports: {killed.name}"]
