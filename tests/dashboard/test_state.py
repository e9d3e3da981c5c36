"""Who you are, the dataset, the Label filters and the runs picked survive a reload (the URL) and page switches."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PROJECT

pytestmark = pytest.mark.slow  # AppTest runs of several whole pages and reloads


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def test_a_reload_keeps_the_user_and_the_dataset(dashboard_env):
    at = _app().run()
    assert not at.exception
    at = at.sidebar.text_input[0].input("ada").run()
    at = at.sidebar.selectbox[0].select(dashboard_env.dataset).run()
    assert at.query_params["user"] == "ada" and at.query_params["dataset"] == dashboard_env.dataset

    reloaded = _app(**dict(at.query_params)).run()  # a new session, the same URL
    assert not reloaded.exception
    assert reloaded.sidebar.text_input[0].value == "ada"
    assert reloaded.sidebar.selectbox[0].value == dashboard_env.dataset


def test_label_filters_and_the_position_survive_a_page_switch_and_a_reload(dashboard_env):
    at = _app(user="ada", dataset=dashboard_env.dataset).run()
    at.switch_page("dashboard/pages/label.py").run()
    assert not at.exception
    at = at.radio(key="label_split").set_value("all").run()
    at = at.button(key="next").click().run()
    assert at.session_state["label_index"] == 1
    at.switch_page("dashboard/pages/compare.py").run()
    assert at.query_params["split"] == "all"
    at.switch_page("dashboard/pages/label.py").run()
    assert at.radio(key="label_split").value == "all"  # not back to "test" with the old image number
    assert at.session_state["label_index"] == 1

    reloaded = _app(**dict(at.query_params)).run()
    reloaded.switch_page("dashboard/pages/label.py").run()
    assert reloaded.radio(key="label_split").value == "all"
    assert (
        reloaded.session_state["label_index"] == 1
    )  # the URL names the image shown: a reload comes back to it
    reloaded = reloaded.radio(key="label_split").set_value("test").run()
    assert reloaded.query_params["split"] == "test"


def test_a_reload_keeps_the_runs_picked_and_their_thresholds(dashboard_env):
    runs = sorted(dashboard_env.run_ids.values())
    at = _app(user="ada", dataset=dashboard_env.dataset).run()
    at.switch_page("dashboard/pages/compare.py").run()
    at = at.multiselect[0].set_value([runs[0]]).run()
    at = at.number_input(key=f"threshold_{runs[0]}").set_value(0.023).run()
    assert not at.exception

    reloaded = _app(**dict(at.query_params)).run()
    reloaded.switch_page("dashboard/pages/compare.py").run()
    assert reloaded.multiselect[0].value == [runs[0]]
    assert reloaded.number_input(key=f"threshold_{runs[0]}").value == 0.023
