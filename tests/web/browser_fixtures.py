"""A real headless Chromium driven by Selenium, for the web page's tests (loaded with
``pytest_plugins``). It is Debian's `chromium` + `chromium-driver`, named by path so Selenium
Manager never runs and nothing downloads a browser. A failing test saves a screenshot to its
tmp dir and says where in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import wait_for
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1366,900",  # a laptop screen
)


class Page:
    """The browser on the page under test, with the waits the tests need."""

    def __init__(self, driver: webdriver.Chrome, downloads: Path, shots: Path) -> None:
        self.driver = driver
        self.downloads = downloads
        self.shots = shots

    def open(self, url: str, token: str | None = None) -> None:
        """Load the page in a fresh tab state: with ``token`` already kept for the tab, or
        with none (so the page must ask)."""
        # The tab's storage is set from another page of the same origin, so the page's own
        # start-up cannot race with it.
        self.driver.get(f"{url}/static/icon.svg")
        self.driver.execute_script(
            "sessionStorage.clear(); if (arguments[0]) "
            "sessionStorage.setItem('sketchify-token', arguments[0]);", token)
        self.driver.get(f"{url}/")

    def find(self, css: str, root: WebElement | None = None) -> WebElement:
        return (root or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, root: WebElement | None = None) -> list[WebElement]:
        return (root or self.driver).find_elements(By.CSS_SELECTOR, css)

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Poll ``check`` until it returns something truthy; fail saying ``what`` was awaited."""
        try:
            return wait_for(check, timeout=timeout, every=0.1)
        except AssertionError:
            raise AssertionError(f"not seen within {timeout} s: {what}") from None

    def downloaded(self, name: str, timeout: float = 20) -> Path:
        path = self.downloads / name
        partial = self.downloads / f"{name}.crdownload"
        return self.wait(lambda: path.exists() and not partial.exists() and path,
                         f"the download {name} in {self.downloads}", timeout)

    def csp_violations(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser")
                if "Content Security Policy" in entry["message"]]

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[webdriver.Chrome, Path]]:
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver, downloads
    finally:
        driver.quit()


@pytest.fixture
def page(chromium: tuple[webdriver.Chrome, Path], tmp_path: Path) -> Iterator[Page]:
    driver, downloads = chromium
    for old in downloads.iterdir():
        old.unlink()
    driver.get_log("browser")  # only this test's messages count
    current = Page(driver, downloads, tmp_path)
    yield current
    violations = current.csp_violations()
    assert violations == [], "the page broke its Content-Security-Policy"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    current = getattr(item, "funcargs", {}).get("page")
    if report.failed and report.when == "call" and isinstance(current, Page):
        try:
            where = f"saved to {current.screenshot(item.name)}"
        except Exception as error:  # a dead browser: the report still says why
            where = f"could not be saved ({error})"
        report.sections.append(("browser screenshot", where))
        print(f"\nbrowser screenshot of {item.name} {where}")
