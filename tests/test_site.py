"""The published site: `python -m ect_perf publish` (asv publish, libraries served locally) of the
committed results, served on loopback, in headless Chromium, on a machine with no internet. The
index lists the streaming benchmarks, a streaming benchmark's graph is drawn from more than one
commit, and no page logs a JavaScript error.

Set ECT_SCREENSHOT_DIR to keep the screenshots (the README's picture comes from here).
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote

import pytest
from asv.config import Config

ROOT = Path(__file__).resolve().parent.parent


def _longest_wall_clock_series() -> str:
    from ect_perf.hosts import wall_clock_machines

    machines = wall_clock_machines(ROOT / "results")
    return max(machines, key=lambda name: len(list((ROOT / "results" / name).glob("*.json"))), default="(none)")


MACHINE = _longest_wall_clock_series()  # the host with the most committed commits
GRAPH = "bench_throughput.StreamThroughput.time_drain_stream"
STREAMING = [
    GRAPH,
    "bench_throughput.StreamThroughput.track_items_per_second",
    "bench_latency.TimeToFirstItem.track_first_item_ms",
    "bench_instructions.StreamInstructions.track_instructions_per_item",
]

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The committed results published into a temporary folder and served on 127.0.0.1."""
    if not (ROOT / "results" / MACHINE / "machine.json").exists():
        pytest.fail(f"no committed results for {MACHINE} in results/")
    html = tmp_path_factory.mktemp("site") / "html"
    publish = subprocess.run(
        [sys.executable, "-m", "ect_perf", "publish", "--html-dir", str(html)], cwd=ROOT, capture_output=True, text=True
    )
    assert publish.returncode == 0, publish.stdout + publish.stderr
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("Chromium and chromedriver are needed (Debian: chromium chromium-driver; make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def errors(driver) -> list[str]:
    """The page's errors, but for one that asv's page makes by design: a benchmark's page asks for
    its graph on every machine, and the instructions machine has graphs of bench_instructions only
    (the request is answered 404 and the page draws the machines that have it)."""
    from ect_perf import INSTRUCTIONS_MACHINE

    absent = f"machine-{INSTRUCTIONS_MACHINE}/"
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not (
            absent in unquote(entry["message"])
            and "/bench_instructions." not in entry["message"]
            and "status of 404" in entry["message"]
        )
    ]


def screenshot(driver, name: str) -> None:
    if target := os.environ.get("ECT_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / name))


def test_index_lists_the_streaming_benchmarks(site, browser):
    html, url = site
    head = (html / "index.html").read_text().split("<body")[0]
    assert not re.search(r'<(?:script|link)[^>]*\s(?:src|href)="https?://', head), "the page loads from the internet"
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: GRAPH in d.page_source)
    for name in STREAMING:
        assert name in browser.page_source, f"{name} is not on the index page"
    screenshot(browser, "index.png")
    assert errors(browser) == []


def test_streaming_graph_is_drawn_from_several_commits(site, browser):
    html, url = site
    # The data behind the graph: one point per measured commit.
    # The SQLite series (no ECT_BENCH_DATABASE: "null"), one per host; a database server's series
    # start with their first campaign.
    graph_files = [
        p
        for p in html.glob(f"graphs/**/{GRAPH}.json")
        if f"machine-{MACHINE}" in p.parts and "env-ECT_BENCH_DATABASE-null" in p.parts
    ]
    assert graph_files, "asv publish wrote no graph for the streaming benchmark"
    points = max(
        ([point for point in json.loads(path.read_text()) if point[1] is not None] for path in graph_files), key=len
    )
    assert len(points) > 1, f"the graph has {len(points)} measured commit(s)"

    browser.get(f"{url}#{GRAPH}")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#main-graph canvas.flot-base"))
    # The points the page handed to flot for the main graph, as the page itself sees them.
    drawn = browser.execute_script(
        "var plot = $('#main-graph').data('plot');"
        "return plot ? plot.getData().reduce(function (n, series) {"
        "  return n + series.data.filter(function (d) { return d[1] !== null; }).length; }, 0) : 0;"
    )
    assert drawn > 1, f"the graph draws {drawn} point(s)"
    screenshot(browser, "graph.png")
    assert errors(browser) == []


def test_overview_page_says_what_a_user_wants_first(site, browser):
    """Linked from the index: the targets of the newest commit, the gate's calibration, and which
    series are host-independent."""
    html, url = site
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ect-overview-link a"))
    browser.find_element(By.CSS_SELECTOR, "#ect-overview-link a").click()
    WebDriverWait(browser, 30).until(lambda d: "overview" in d.current_url)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Performance targets at commit" in text and "Streaming throughput" in text
    assert "How far the gate can be trusted" in text
    assert "host-independent: CPU instructions counted under valgrind" in text
    screenshot(browser, "overview.png")
    assert errors(browser) == []


def test_each_explained_step_of_the_counts_has_a_page_reached_from_the_overview(site, browser):
    """The overview lists the steps of the valgrind series; each commit with a committed explanation
    (docs/explanations/) links to its page, which Chromium shows with the explanation's tables."""
    html, url = site
    explained = sorted(path.stem for path in (ROOT / "docs" / "explanations").glob("*.json"))
    assert explained, "no explanation committed in docs/explanations/"
    browser.get(url + "overview.html")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Steps in the instruction counts, and where the instructions went" in text
    from ect_perf.explain.steps import by_commit, steps

    waiting = {commit for commit in by_commit(steps(ROOT, ROOT / "results")) if commit[:8] not in explained}
    assert ("not explained yet" in text) == bool(waiting), sorted(waiting)  # said exactly when some wait
    for commit in explained:
        browser.get(url + "overview.html")
        browser.find_element(By.CSS_SELECTOR, f'a[href="steps/{commit}.html"]').click()
        WebDriverWait(browser, 30).until(lambda d, commit=commit: d.current_url.endswith(f"steps/{commit}.html"))
        page = browser.find_element(By.TAG_NAME, "body").text
        assert f"Commit {commit}" in page and "Native function (own instructions per item)" in page
        assert "Python function (own bytecodes per item)" in page
        assert errors(browser) == []
    screenshot(browser, "step.png")


def test_no_thumbnail_on_the_index_is_blank(site, browser):
    """Each benchmark's thumbnail (asv's summary graph: the geometric mean over its parameters) has
    values and none below zero: asv draws its grid from 0 up, so a negative series (the old signed
    degradation) showed as a blank thumbnail, and a series of n/a as nothing at all."""
    html, _ = site
    for path in html.glob("graphs/summary/*.json"):
        values = [point[1] for point in json.loads(path.read_text()) if point[1] is not None]
        assert values, f"{path.stem}: no value to draw"
        assert min(values) >= 0, f"{path.stem}: negative values draw a blank thumbnail"


def test_each_database_server_draws_series_of_its_own(site):
    """asv.databases.conf.json's results: their ECT_BENCH_DATABASE is a graph parameter of its own."""
    html, _ = site
    graphs = list(html.glob(f"graphs/**/{GRAPH}.json"))
    for database in ("null", "postgresql", "mariadb"):  # null: SQLite, asv.conf.json's
        assert any(f"env-ECT_BENCH_DATABASE-{database}" in path.parts for path in graphs), database


def test_the_regressions_page_lists_no_higher_is_better_series(site):
    """asv takes every upward step for a regression: on items/s it would list only speed-ups. The
    thresholds in asv.conf.json keep exactly the higher-is-better benchmarks of verdicts.json (and
    the RSS growth's page-sized noise) off the page; the published page then has none of them."""
    html, _ = site
    verdicts = json.loads((ROOT / "ect_perf" / "gate" / "verdicts.json").read_text())["benchmarks"]
    higher = {name for name, entry in verdicts.items() if entry["better"] == "higher"}
    config = Config.load(str(ROOT / "asv.conf.json"))
    kept_off = {
        name
        for name in verdicts
        if any(
            re.match(pattern, name) and threshold >= 1e6 for pattern, threshold in config.regressions_thresholds.items()
        )
    }
    assert kept_off == higher
    listed = {entry[0].split("(")[0] for entry in json.loads((html / "regressions.json").read_text())["regressions"]}
    assert not listed & higher, listed & higher


def changes_the_service(before: str | None, after: str) -> bool:
    """Whether a commit in (before, after] changed ect_service/ or protos/ (before None: up to after)."""
    span = f"{before}..{after}" if before else after
    changed = subprocess.run(
        ["git", "log", "--format=%H", span, "--", "ect_service", "protos"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return bool(changed.strip())


def test_changes_the_service_tells_service_commits_from_the_rest():
    assert changes_the_service("a96b018^", "a96b018")  # the stream unpacks each row
    assert not changes_the_service("8694d3a^", "8694d3a")  # results only
    assert not changes_the_service("d18ac96", "9f579db")  # targets, results and a tidy of ect_perf


def test_every_step_on_the_regressions_page_is_at_a_service_change(site):
    """A step in a published series lies between two measured commits; some commit between them must
    have changed the service, else the step is the host's or the campaign's, not the code's."""
    html, _ = site
    index = json.loads((html / "index.json").read_text())
    commit = index["revision_to_hash"]
    for name, graph, _params, _index, _last, _best, jumps in json.loads((html / "regressions.json").read_text())[
        "regressions"
    ]:
        measured = sorted(point[0] for point in json.loads((html / graph).read_text()) if point[1] is not None)
        for before, after, *_ in jumps:
            before = before if before is not None else max((rev for rev in measured if rev < after), default=None)
            assert changes_the_service(commit.get(str(before)), commit[str(after)]), (name, graph, before, after)
