"""A real headless Chromium for the console's tests: Debian's `chromium` and `chromium-driver`
(`make browser` installs them), driven by Selenium pointed at both, so nothing is downloaded at
run time. Without them the tests skip, unless REGIME_FLEET_REQUIRE_BROWSER=1 (`make test`, CI),
where a missing browser fails the run."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

REQUIRE = "REGIME_FLEET_REQUIRE_BROWSER"
ARTEFACTS = Path(os.environ.get("REGIME_FLEET_ARTEFACTS", ".cache/artefacts")) / "console"
T = TypeVar("T")


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver); skips the test, or fails it when the browser is required."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None]
    if missing:
        why = (
            f"{' and '.join(missing)} not installed (make browser: apt-get install chromium chromium-driver)"
        )
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {why}", pytrace=False)
        pytest.skip(why)
    assert chromium is not None and driver is not None
    return chromium, driver


@contextmanager
def chromium(width: int = 1440, height: int = 960) -> Iterator[Any]:
    """A headless Chromium session (quit on exit, so no process outlives the test)."""
    binary, driver_path = browser_paths()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20.0, every: float = 0.1) -> T:
    """`check()`'s first truthy answer; AssertionError naming `what` after `timeout` seconds
    (exceptions from a page still rendering count as not yet)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # a stale element while the page re-renders
            last = exc
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what}" + (f" (last error: {last})" if last else ""))


def screenshot(driver: Any, name: str) -> Path:
    """The page as a PNG test artefact (REGIME_FLEET_ARTEFACTS, default .cache/artefacts)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Any) -> list[str]:
    """The browser console's severe messages (script errors), for an assertion message."""
    try:
        return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:
        return []
