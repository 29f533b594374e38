"""The console page as the browser tests read and drive it: views, elements, clicks that a
re-render cannot leave stale, the token form, the board's rows and the graph's colours, each
read in one step in the page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.integration.browser import wait_for


def view(driver: Any, name: str) -> None:
    driver.execute_script("location.hash = arguments[0]", f"#{name}")
    wait_for(
        f"view {name}",
        lambda: driver.execute_script("return document.body.dataset.view") == name.split("/")[0],
    )


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def click(driver: Any, selector: str) -> None:
    """Find and click in one step in the page (a view re-rendering cannot leave a stale element)."""
    wait_for(
        f"{selector} clicked",
        lambda: driver.execute_script(
            "const b = document.querySelector(arguments[0]); if (b) b.click(); return !!b;", selector
        ),
    )


def use_token(driver: Any, token: str | None) -> None:
    if token is None:
        css(driver, "#token-forget").click()
        wait_for("token forgotten", lambda: "no token" in css(driver, "#token-state").text)
        return
    css(driver, "#token").send_keys(token)
    css(driver, "#token-use").click()
    wait_for("token set", lambda: "token set" in css(driver, "#token-state").text)


def row(driver: Any, symbol: str) -> dict[str, str]:
    """The board row's state: regime, control, offset, and its last decision's time."""
    return dict(
        driver.execute_script(
            "const r = document.querySelector(`#board [data-symbol='${arguments[0]}']`);"
            "return r ? {...r.dataset, updated: r.querySelector('.updated').textContent} : null;",
            symbol,
        )
        or {}
    )


def visible_rows(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#board [data-symbol]')].filter((r) => !r.hidden).map((r) => r.dataset.symbol)"
        )
    )


def graph(driver: Any) -> dict[str, str]:
    """worker -> the colour state of its node (read in one go: the graph re-renders as it polls)."""
    return dict(
        driver.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#fleet-graph [data-worker]')]"
            ".map((n) => [n.dataset.worker, n.dataset.state]));"
        )
    )


def shown(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
