"""Team load: signed-in people in real browsers using Compare, Label and Inspect at once while a sweep trains.

Builds a throw-away workbench (results store, MLflow, data dir in tmp; or `--db-url` for an empty PostgreSQL
database) holding a synthetic dataset and two finished smoke runs, adds one member account per person, starts
`streamlit run` on 127.0.0.1 and queues a sweep (`python -m engine sweep`, its own worker). Then each person,
in a Chromium of their own (a process each, so they really act at once), signs in and for each round opens
Compare, Inspect and Label and labels one image of their own on Label (jumping to it by name).

It prints and writes (`--out`, default benchmarks/results/team-load.md) each page's opening times (the first
open is cold; later ones read the caches, target < 2 s) and the writes: saves the page confirmed, label events
in the store, lost (confirmed, not stored) and duplicated (stored more than once) ones; the goal is none.

    python benchmarks/team_load.py                      # 5 people, 3 rounds, a 9-job sweep, 3 s per page
    python benchmarks/team_load.py --think 0 --out benchmarks/results/team-load-stress.md   # no pause: a stress test
    python benchmarks/team_load.py --users 2 --rounds 1 --test-images 8 --size 32 \\
        --sweep-methods autoencoder --sweep-seeds 0 --out /tmp/team-load.md     # a quick check that it works

Timings are from the click to the end of the script run it caused, as the browser sees it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from db.store import Store  # noqa: E402
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, free_port, healthy, processes_of, stop  # noqa: E402

DATASET = "load"
PAGES = ("Compare", "Inspect", "Label")
CACHED_TARGET_S = 2.0


def _engine(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=PROJECT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"python -m engine {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def build(root: Path, env: dict[str, str], args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """Dataset, two smoke runs and one member account per person; returns the passwords and the images."""
    from tests.synthetic_mvtec import make_mvtec_folder

    half = max(args.test_images // 2, 1)
    folder = make_mvtec_folder(
        root / "source", n_train=16, n_good=half, defects={"square": half}, size=args.size
    )
    _engine(env, "migrate")
    _engine(env, "import", str(folder), "--name", DATASET)
    for method in ("autoencoder", "vae"):
        _engine(env, "train", "--dataset", DATASET, "--method", method, "--preset", "smoke", "--json")
    passwords = {f"user{i + 1}": secrets.token_urlsafe(12) for i in range(args.users)}
    for name, password in passwords.items():
        _engine(env, "users", "add", name, "--role", "member", "--password-stdin", stdin=password + "\n")
    images = sorted(str(p.relative_to(folder)) for p in (folder / "test").rglob("*.png"))
    return passwords, images


def person(
    name: str, password: str, url: str, targets: list[str], rounds: int, think: float, browser_nice: int
) -> dict:
    """One person's session in a Chromium of their own: page times and the saves the page confirmed. After
    each page has opened they look at it for about `think` seconds (0.5 to 1.5 times it, drawn per page, so that
    five people do not click in step) before the next click."""
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.driver import App

    os.nice(browser_nice)  # this process, its Playwright driver and its Chromium
    expect.set_options(timeout=120_000)
    pause = random.Random(name)
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    saved, conflicts = [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(120_000)
        app = App(page)
        start = time.monotonic()
        page.goto(url)
        page.get_by_role("textbox", name="Name").fill(name)
        page.get_by_role("textbox", name="Password").fill(password)
        app.act(page.get_by_role("button", name="Sign in", exact=True).click, "signing in", 180_000)
        sign_in = time.monotonic() - start
        sidebar = page.get_by_test_id("stSidebar")
        app.choose(sidebar.get_by_role("combobox", name="Dataset"), DATASET)
        for target in targets[:rounds]:
            for title in PAGES:
                start = time.monotonic()
                app.open(title)
                times[title].append(time.monotonic() - start)
                time.sleep(think * pause.uniform(0.5, 1.5))
            page.get_by_role("button", name=re.compile("Filters")).click()  # "Jump to" is in its popover
            jump = page.get_by_role("combobox", name="Jump to")
            jump.click()
            page.keyboard.type(target)
            app.act(page.get_by_role("option", name=target, exact=True).click, f"jumping to {target}")
            page.keyboard.press("Escape")
            app.act(page.get_by_role("button", name=re.compile("^Normal")).click, f"labeling {target}")
            if page.get_by_text(f"Saved {target}").count():
                saved.append(target)
            elif page.get_by_role("button", name="Keep theirs").count():
                conflicts += 1
                app.act(page.get_by_role("button", name="Keep theirs").click, "keeping theirs")
        browser.close()
    return {"name": name, "sign_in": sign_in, "times": times, "saved": saved, "conflicts": conflicts}


def _row(title: str, runs: list[dict]) -> str:
    first = [r["times"][title][0] for r in runs if r["times"][title]]
    later = [t for r in runs for t in r["times"][title][1:]]
    cold = f"{statistics.median(first):.2f}" if first else "-"
    if not later:
        return f"| {title} | {len(first)} | {cold} | - | - | - |"
    ok = "yes" if max(later) < CACHED_TARGET_S else "no"
    return f"| {title} | {len(first) + len(later)} | {cold} | {statistics.median(later):.2f} | {max(later):.2f} | {ok} |"


def page_runs(path: Path) -> dict[str, list[float]]:
    """Seconds of each page run the server wrote (dashboard/page_times.py), by page title."""
    found: dict[str, list[float]] = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        title, seconds = line.rsplit("\t", 1)
        found.setdefault(title, []).append(float(seconds))
    return found


def _server_row(title: str, seconds: list[float]) -> str:
    if not seconds:
        return f"| {title} | 0 | - | - | - |"
    ninetieth = (
        statistics.quantiles(seconds, n=10, method="inclusive")[-1] if len(seconds) > 1 else seconds[0]
    )
    return f"| {title} | {len(seconds)} | {statistics.median(seconds):.2f} | {ninetieth:.2f} | {max(seconds):.2f} |"


def writes(runs: list[dict], store: Store) -> tuple[int, int, int, int]:
    """(confirmed saves, stored events of the people, lost, duplicated)."""
    from collections import Counter

    from sqlalchemy import select

    from db.models import Image, LabelEvent

    with store.session() as s:
        rows = s.execute(
            select(LabelEvent.author, Image.relpath).join(Image, Image.id == LabelEvent.image_id)
        ).all()
    stored = Counter((author, relpath) for author, relpath in rows if author.startswith("user"))
    confirmed = Counter((r["name"], target) for r in runs for target in r["saved"])
    lost = sum((confirmed - stored).values())
    duplicated = sum(n - 1 for n in stored.values() if n > 1)
    return sum(confirmed.values()), sum(stored.values()), lost, duplicated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="Compare, Inspect, Label and one save each")
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="seconds a person looks at a page before the next click, on average (0: clicks as fast as pages answer, a "
        "stress test rather than people)",
    )
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=10,
        help="CPU niceness of the people's browsers: here they share the server's cores, where in use they run "
        "on people's own computers (0: as high a priority as the server)",
    )
    parser.add_argument("--test-images", type=int, default=40)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--sweep-methods", default="autoencoder,vae,padim")
    parser.add_argument("--sweep-seeds", default="0,1,2")
    parser.add_argument("--db-url", help="an empty PostgreSQL database (default: SQLite in tmp)")
    parser.add_argument("--out", default=str(PROJECT / "benchmarks" / "results" / "team-load.md"))
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    root = Path(tempfile.mkdtemp(prefix="team-load-"))
    db_url = args.db_url or f"sqlite:///{root / 'workbench.db'}"
    env = {
        **os.environ,
        "WORKBENCH_DB_URL": db_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "WORKBENCH_DATA_DIR": str(root / "data"),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "WORKBENCH_PAGE_TIMES": str(root / "page-times.tsv"),  # the server's own time per page run
    }
    began = time.monotonic()
    passwords, images = build(root, env, args)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1"]
    command += ["--server.port", str(port), "--server.headless", "true"]
    with open(root / "server.log", "wb") as log:
        server = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while not healthy(url):
            if server.poll() is not None:
                raise SystemExit(f"streamlit exited; see {root / 'server.log'}")
            time.sleep(0.5)
        sweep = _engine(
            env, "sweep", "--datasets", DATASET, "--methods", args.sweep_methods, "--presets", "smoke",
            "--seeds", args.sweep_seeds, "--user", "user1",
        )  # fmt: skip
        print(sweep.strip(), file=sys.stderr)
        names = list(passwords)
        targets = {n: images[i :: len(names)] for i, n in enumerate(names)}  # each person labels their own
        browsing = time.monotonic()
        with ProcessPoolExecutor(len(names), mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    person, n, passwords[n], url, targets[n], args.rounds, args.think, args.browser_nice
                )
                for n in names
            ]
            runs = [f.result() for f in futures]
        browsing = time.monotonic() - browsing
        from engine import jobs

        store = Store.at(db_url)
        done = sum(v.status == "DONE" for v in jobs.list_jobs(limit=1000, store=store))
        queued = len(jobs.list_jobs(limit=1000, store=store))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stop(processes_of(db_url))
    confirmed, stored, lost, duplicated = writes(runs, Store.at(db_url))
    server_times = page_runs(Path(env["WORKBENCH_PAGE_TIMES"]))
    conflicts = sum(r["conflicts"] for r in runs)
    lines = [
        "# Team load",
        "",
        f"`python benchmarks/team_load.py {' '.join(argv if argv is not None else sys.argv[1:])}`: "
        f"{args.users} signed-in people in Chromium at once, {args.rounds} round(s) each of Compare, Inspect and "
        f"Label with one save (about {args.think:g} s on each page before the next click; browsers at niceness {args.browser_nice}, the sweep's worker at its default 10), on {len(images)} test images of {args.size} px, while a sweep of {queued} smoke "
        f"job(s) ran ({done} done while they browsed for {browsing:.0f} s); store {db_url.split(':', 1)[0]}.",
        "",
        f"Sign-in (first page load included): median {statistics.median(r['sign_in'] for r in runs):.1f} s.",
        "",
        "| page | opens | first open s | later opens median s | later max s | later < 2 s |",
        "|---|---|---|---|---|---|",
        *(_row(title, runs) for title in PAGES),
        "",
        "The server's own part (`WORKBENCH_PAGE_TIMES`: every script run of the page, sign-in, widget reruns and "
        "label saves included; the rest of a page's time is the browser and the wire):",
        "",
        "| page | server runs | median s | 90th percentile s | max s |",
        "|---|---|---|---|---|",
        *(_server_row(title, server_times.get(title, [])) for title in PAGES),
        "",
        f"Writes: {confirmed} saves confirmed on the page, {stored} label events stored, **{lost} lost**, "
        f"**{duplicated} duplicated**, {conflicts} conflict(s) shown.",
        "",
        f"Whole benchmark: {time.monotonic() - began:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    shutil.rmtree(root, ignore_errors=True)
    return 1 if lost or duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
