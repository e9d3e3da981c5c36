from dashboard.leaderboard import LEADERBOARD_COLUMNS, leaderboard
from tests.dashboard.test_figures import make_run


def test_sorted_leaderboard():
    runs = [
        make_run(5, "vae", 0.7),
        make_run(2, "vae", 0.99),
        make_run(4, "padim", 0.9),
        make_run(6, "anogan", None),
    ]
    board = leaderboard(runs, sort=True)
    assert list(board["run"]) == ["vae #2", "padim #4", "vae #5", "anogan #6"]
    assert list(board.columns) == list(LEADERBOARD_COLUMNS)
    assert list(leaderboard(runs)["run"]) == ["vae #5", "vae #2", "padim #4", "anogan #6"]
