"""The page at ``/`` of ``h2mt serve``, in a real headless browser.

A real server process on 127.0.0.1 (the tiny model, a small index built with the hashing encoder)
and Debian's ``chromium`` + ``chromium-driver`` driven by Selenium: the page lists the indexes,
asks, an answer streams in, the kept sources are listed (the same leaves ``/v1/route`` keeps), the
tree shows kept leaves and pruned branches, and the accounting is filled in. An API key set on the
server is asked for by the page and then used. Skipped, with the reason, when the browser, its
driver, Selenium or the ``[serve]`` extra is missing (``scripts/setup.sh`` installs the browser
when ``CI=true`` or ``H2MT_WITH_BROWSER=1``).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "core" / "serve" / "static"
QUESTION = "How do I redirect output to a file descriptor?"
KEY = "page-test-key-0123456789"
BUDGET = 40  # words (the index counts with SimpleTokenCounter): the prompt fits the tiny model, branches are pruned


def _browser() -> tuple[str, str] | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        binary = shutil.which(name)
        if binary:
            break
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    return (binary, driver) if binary and driver else None


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e '.[dev]')"
    if _browser() is None:
        return (
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; "
            "scripts/setup.sh installs them when CI=true or H2MT_WITH_BROWSER=1)"
        )
    try:
        import uvicorn  # noqa: F401
        from h2mt.serve import create_app  # noqa: F401
    except ImportError as e:
        return f"needs h2mt serve and its [serve] extra ({e})"
    return None


# ---------------------------------------------------------------- static checks (no browser)


def test_page_is_self_contained():
    """Nothing outside the machine is fetched: no CDN, no remote font, script or stylesheet."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(https?:)?//", ref), ref
    for name in ("app.js", "style.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "@import" not in text
    # Stable ids the tests and the docs rely on; the answer is announced to screen readers.
    for id_ in ("index-select", "question", "ask", "answer", "sources", "tree", "accounting", "api-key"):
        assert f'id="{id_}"' in html, id_
    assert re.search(r'id="answer"[^>]*aria-live="polite"', html)
    for id_ in ("index-select", "question", "api-key", "budget", "beam"):
        assert f'<label for="{id_}"' in html, id_
    # Server text is inserted as text, never parsed as HTML.
    assert "innerHTML" not in (STATIC / "app.js").read_text(encoding="utf-8")


# ---------------------------------------------------------------- a real server and browser


def _get(url: str, key: str | None = None, data: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


@contextmanager
def _serving(root: Path, *args: str, **kw) -> Iterator:
    """``h2mt serve`` (tests/serve/_server.py: the tiny model, the manual index) until the block ends."""
    from tests.serve._server import Server

    srv = Server(root, *args, **kw)
    try:
        srv.wait_ready(180)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    return tmp_path_factory.mktemp("page")


@pytest.fixture(scope="module")
def server(root) -> Iterator:
    with _serving(root, name="page") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    if _missing():
        pytest.skip(_missing())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _browser()  # type: ignore[misc]
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    d.set_page_load_timeout(60)
    try:
        yield d
    finally:
        d.quit()


def _wait(d, cond, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout, poll_frequency=0.1).until(cond)


def _ids(d, selector: str) -> list[int]:
    from selenium.webdriver.common.by import By

    return [int(e.get_attribute("data-node-id")) for e in d.find_elements(By.CSS_SELECTOR, selector)]


def _severe(d) -> list[str]:
    return [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]


def test_page_asks_streams_and_shows_the_route(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    status, models = _get(server.url + "/v1/models")
    assert status == 200 and models["data"]
    model = models["data"][0]["id"]

    d.get(server.url + "/")
    assert "h2mt" in d.title
    _wait(d, lambda d: d.find_element(By.ID, "index-select").get_attribute("value"), 30)
    options = [o.get_attribute("value") for o in Select(d.find_element(By.ID, "index-select")).options]
    assert options == [m["id"] for m in models["data"]]
    Select(d.find_element(By.ID, "index-select")).select_by_value(model)
    d.find_element(By.ID, "question").send_keys(QUESTION)
    d.find_element(By.ID, "budget").send_keys(str(BUDGET))
    d.find_element(By.ID, "ask").click()

    # Routing comes back first: the tree and the kept sources appear before the answer ends.
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#sources li"), 60)
    _wait(d, lambda d: d.find_element(By.ID, "answer").get_attribute("data-done") == "true", 300)
    status_line = d.find_element(By.ID, "status")
    assert "error" not in (status_line.get_attribute("class") or ""), status_line.text
    assert status_line.text == "Done."
    answer = d.find_element(By.ID, "answer").text.strip()
    assert answer, "no answer appeared"

    # The sources listed are the leaves /v1/route keeps for the same question and budget.
    status, route = _get(server.url + "/v1/route", data={"model": model, "question": QUESTION, "budget": BUDGET})
    assert status == 200
    kept = [k["node_id"] for k in route["kept"]]
    assert kept and sorted(_ids(d, "#sources li")) == sorted(kept)
    first = d.find_element(By.CSS_SELECTOR, "#sources li")
    assert " › " in first.find_element(By.CLASS_NAME, "crumb").text  # breadcrumb of headings
    assert re.fullmatch(r"-?\d+\.\d{3}", first.find_element(By.CLASS_NAME, "score").text)

    # The tree: kept leaves highlighted, pruned branches greyed (and not opened).
    assert sorted(_ids(d, "#tree li.kept")) == sorted(kept)
    pruned = _ids(d, "#tree li.pruned")
    assert pruned and set(pruned) <= {p["node_id"] for p in route["pruned"]}
    assert not d.find_elements(By.CSS_SELECTOR, "#tree li.pruned li")
    grey = d.find_element(By.CSS_SELECTOR, "#tree li.pruned > .label").value_of_css_property("color")
    green = d.find_element(By.CSS_SELECTOR, "#tree li.kept > .label").value_of_css_property("color")
    assert grey != green

    # The accounting from the answer's h2mt field.
    acc = d.find_element(By.ID, "accounting").text
    for label in ("Tokens kept / total", "Route", "Prefill", "Time to first token"):
        assert label in acc, acc
    assert f"{route['accounting']['tokens_total']:,}" in acc
    assert not _severe(d), _severe(d)


def test_page_asks_for_the_api_key(root, browser):
    from selenium.webdriver.common.by import By

    with _serving(root, "--api-key-env", "H2MT_PAGE_TEST_KEY", env={"H2MT_PAGE_TEST_KEY": KEY}, name="page-key") as srv:
        d = browser
        d.get(srv.url + "/")
        _wait(d, lambda d: "401" in d.find_element(By.ID, "status").text, 30)
        status = d.find_element(By.ID, "status")
        assert "API key" in status.text
        d.find_element(By.CSS_SELECTOR, "details.key summary").click()
        field = d.find_element(By.ID, "api-key")
        assert field.get_attribute("type") == "password"
        field.send_keys(KEY)
        d.find_element(By.ID, "question").click()  # blur: the change event reloads the indexes
        _wait(d, lambda d: d.find_element(By.ID, "index-select").get_attribute("value") == "manual", 30)
        assert status.text == ""
        # The key stays in memory: nothing is written to the browser's storage.
        assert d.execute_script("return localStorage.length + sessionStorage.length") == 0
        assert KEY not in d.execute_script("return document.cookie")
        assert KEY not in srv.log_text()
