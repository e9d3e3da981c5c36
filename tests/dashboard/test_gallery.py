import numpy as np
import pytest

from dashboard import gallery
from dashboard.gallery import GalleryFilter
from dashboard.gallery_figure import Tile, clicked_name, grid_figure
from dashboard.score_table import ScoreTable

TABLE = ScoreTable(
    names=("g0", "g1", "c0", "c1", "h0"),
    labels=np.array([0, 0, 1, 1, 1]),
    defect_types=("good", "good", "crack", "crack", "hole"),
    scores=np.array([0.1, 0.4, 2.0, 0.9, 3.0]),
    scores_normalized=np.array([0.10, 0.45, 0.80, 0.55, 1.00]),
)
ORDER = ["h0", "c0", "c1", "g1", "g0"]  # most anomalous first


@pytest.mark.parametrize(
    ("chosen", "flagged", "expected"),
    [
        (GalleryFilter(), set(), ORDER),
        (GalleryFilter(label="normal"), set(), ["g1", "g0"]),
        (GalleryFilter(label="anomalous"), set(), ["h0", "c0", "c1"]),
        (GalleryFilter(defect_types=("crack", "good")), set(), ["c0", "c1", "g1", "g0"]),
        (GalleryFilter(label="normal", defect_types=("crack",)), set(), []),
        (GalleryFilter(scores=(0.45, 0.80)), set(), ["c0", "c1", "g1"]),  # both ends included
        (GalleryFilter(flagged=True), {"g0", "c1", "elsewhere"}, ["c1", "g0"]),
        (GalleryFilter(label="anomalous", scores=(0.5, 0.9), flagged=True), {"c1", "h0"}, ["c1"]),
    ],
)
def test_filter_keeps_the_order_and_every_field_counts(chosen, flagged, expected):
    assert gallery.filter_names(TABLE, ORDER, chosen, flagged) == expected


def test_names_not_in_the_table_drop_out_and_bad_labels_are_refused():
    assert gallery.filter_names(TABLE, ["h0", "gone.png"], GalleryFilter(), set()) == ["h0"]
    with pytest.raises(ValueError, match="choose from"):
        GalleryFilter(label="defect")
    assert gallery.defect_types(TABLE) == ["crack", "good", "hole"]


def test_pages_are_cut_and_clamped():
    names = [f"n{i}" for i in range(50)]
    first = gallery.page_of(names, 1)
    assert first.names == tuple(names[:24]) and first.pages == 3 and first.total == 50
    assert first.caption == "page 1 of 3 · images 1-24 of 50"
    last = gallery.page_of(names, 3)
    assert last.names == tuple(names[48:]) and last.caption == "page 3 of 3 · images 49-50 of 50"
    assert gallery.page_of(names, 9).page == 3 and gallery.page_of(names, 0).page == 1
    empty = gallery.page_of([], 4)
    assert (empty.names, empty.page, empty.pages, empty.first) == ((), 1, 1, 0)
    assert "no images match" in empty.caption
    assert gallery.page_of(names, 2, per_page=10).names == tuple(names[10:20])
    with pytest.raises(ValueError, match="per_page"):
        gallery.page_of(names, 1, per_page=0)


def test_a_changed_filter_goes_back_to_page_one():
    before = GalleryFilter(label="anomalous")
    assert gallery.page_after(before, GalleryFilter(label="anomalous"), 3) == 3
    assert gallery.page_after(before, GalleryFilter(label="anomalous", flagged=True), 3) == 1
    assert gallery.page_after(None, before, 3) == 3  # first run: the page from the URL stands


def test_query_parameters_round_trip_and_defaults_are_left_out():
    chosen = GalleryFilter("anomalous", ("crack", "hole"), (0.25, 0.9), True)
    params = gallery.to_query(chosen, 4)
    assert params == {
        "g_label": "anomalous",
        "g_type": ["crack", "hole"],
        "g_score": "0.25-0.90",
        "g_flagged": "1",
        "g_page": "4",
    }
    as_lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    assert gallery.from_query(as_lists) == (chosen, 4)
    assert gallery.to_query(GalleryFilter(), 1) == {}
    assert gallery.from_query({}) == (GalleryFilter(), 1)


def test_a_hand_edited_link_falls_back_to_defaults():
    chosen, page = gallery.from_query(
        {"g_label": ["weird"], "g_score": ["high-low"], "g_page": ["-2"], "g_flagged": ["yes"]}
    )
    assert (chosen, page) == (GalleryFilter(), 1)
    chosen, _ = gallery.from_query({"g_score": ["1.5-0.3"]})
    assert chosen.scores == (0.3, 1.0)  # clipped to 0-1 and put in order


def _tiles(n: int) -> list[Tile]:
    png = b"\x89PNG fake"
    return [Tile(f"img{i}", png if i != 1 else None, f"#{i + 1}", f"img{i}") for i in range(n)]


def test_grid_has_a_clickable_point_per_tile_in_rows_and_a_ring_on_the_open_image():
    fig = grid_figure(_tiles(8), current="img7", columns=6)
    points = fig.data[0]
    assert [c[0] for c in points.customdata] == [f"img{i}" for i in range(8)]
    assert list(points.x) == [0, 1, 2, 3, 4, 5, 0, 1] and points.y[6] < points.y[0] == 0
    assert len(fig.layout.images) == 7  # img1 has no picture
    assert "no picture" in [a.text for a in fig.layout.annotations]
    assert [a.text for a in fig.layout.annotations if a.text.startswith("#")] == [
        f"#{i}" for i in range(1, 9)
    ]
    (ring,) = fig.layout.shapes
    assert (ring.x0 + ring.x1) / 2 == 1 and (ring.y0 + ring.y1) / 2 == points.y[7]
    assert fig.layout.clickmode == "event+select" and fig.layout.height > grid_figure(_tiles(6)).layout.height
    assert not grid_figure(_tiles(3), current="elsewhere").layout.shapes


def test_clicked_name_reads_a_chart_selection():
    assert clicked_name({"selection": {"points": [{"customdata": ["img3"]}]}}) == "img3"
    assert clicked_name({"selection": {"points": []}}) is None
    assert clicked_name(None) is None and clicked_name({}) is None
