"""Streamlit dashboard: thin pages over `engine` and `db`; figures built by pure functions in `figures.py`."""
