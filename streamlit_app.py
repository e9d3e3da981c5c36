"""Anomaly Workbench dashboard: a router over the pages in dashboard/pages plus the shared sidebar."""

import streamlit as st

from dashboard import auth, cache, page_times, sidebar, state

st.set_page_config(page_title="Anomaly Workbench", page_icon=":material/troubleshoot:", layout="wide")

PAGES = {
    "Data": [
        st.Page("dashboard/pages/datasets.py", title="Datasets", icon=":material/folder:", default=True),
        st.Page("dashboard/pages/label.py", title="Label", icon=":material/label:"),
    ],
    "Models": [
        st.Page("dashboard/pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("dashboard/pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("dashboard/pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
        st.Page("dashboard/pages/inspect.py", title="Inspect", icon=":material/image_search:"),
        st.Page("dashboard/pages/score.py", title="Score new images", icon=":material/online_prediction:"),
    ],
    "Meeting": [
        st.Page("dashboard/pages/review.py", title="Review", icon=":material/groups:"),
    ],
}

cache.stores_ready()  # the app migrates the stores explicitly; workers never do on a shared database
auth.gate()  # the sign-in form (or a refused start) before any page, when the store has accounts
page = st.navigation(PAGES)
with page_times.timed(page.title):  # the server's part of the page's time, for benchmarks
    state.restore()  # the URL's choices on a reload; widget values kept across pages
    sidebar.render()
    state.remember()
    page.run()
