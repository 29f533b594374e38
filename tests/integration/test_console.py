"""The fleet console in a real headless Chromium against a real fleet on the broker: the fleet
graph lists every worker and turns a killed one red, then green; posted events reach the
regime board and the symbol page; a symbol paused from the page stops and catches up; a
model's report renders; writes without the token are refused on the page; a replay started
from the page shows `match`; 500 symbols updating at once stay responsive. One fleet and one
browser for the module; screenshots of each view are written as artefacts (docs/console.md)."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.browser import browser_paths, chromium, console_errors, screenshot, wait_for
from tests.integration.console_page import (
    all_css,
    click,
    css,
    graph,
    row,
    shown,
    use_token,
    view,
    visible_rows,
)
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS, Fleet
from tests.integration.test_api import AUTH, TOKEN
from tests.integration.test_enricher import SETTINGS as ENRICHER_SETTINGS
from workers.enricher.samples import signal as raw_signal
from workers.runtime.commands import symbol_partition
from workers.runtime.topic_io import produce_values
from workers.topology import load_topology

pytestmark = pytest.mark.integration
WORKERS = ("ingest", "scheduler", "engine", "publisher", "enricher")  # started; the labeler is not
START_S = 90.0  # six processes starting at once on the shared 2-core machine
BOUND_S = 30.0  # functional bounds on a shared machine (the latency is measured, not bounded here)
FIRST_VIEW_BYTES = 500_000
MODEL = "console-1"


@dataclass
class Console:
    fleet: Fleet
    api: httpx.Client
    url: str
    events: list[dict[str, Any]]
    model: threading.Thread
    posted: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def post(self, upto: int) -> None:
        """Admit events [posted, upto) through the api (one batch)."""
        if upto > self.posted:
            answer = self.api.post("/v1/events/batch", json=self.events[self.posted : upto], headers=AUTH)
            assert answer.status_code == 202, answer.text
            self.posted = upto

    def last_decision_ms(self, symbol: str) -> int:
        return expected_runs(self.events[: self.posted], DAY_MS)[symbol][-1]


def _train_model(report_dir: Path) -> None:
    """A small calibrated model under trainer.report_dir, as the demo trains its contrast model."""
    from harness.demo.model import _trained, _with, failure_mode_bars
    from workers.config import load_settings
    from workers.meta_model.training import dataset_from_bars

    settings = _with(load_settings(), fast=5, slow=20, report_dir=str(report_dir))
    bars = failure_mode_bars(symbols=1, per_symbol=3000)
    _trained(settings, dataset_from_bars(settings, bars, provenance={"source": "console test"}), MODEL)


def _start_api(fleet: Fleet) -> httpx.Client:
    """test_api's start_api with a wider bound: here it starts beside five workers."""
    port = free_port()
    fleet.start("api", api__port=str(port), api__tokens=json.dumps([TOKEN, "other-token"]))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return client
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"api not ready:\n{fleet.log('api')[-3000:]}")


@pytest.fixture(scope="module")
def console(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    browser_paths()  # skip (or fail, when required) before starting a fleet
    root = tmp_path_factory.mktemp("console")
    models = root / "models"
    fleet = Fleet(
        kafka_bootstrap,
        f"t{uuid.uuid4().hex[:8]}.",
        root / "fleet",
        {**ENRICHER_SETTINGS, "trainer__report_dir": str(models)},
    )
    fleet.create_topics()
    model = threading.Thread(target=_train_model, args=(models,), daemon=True)
    model.start()
    try:
        for worker in WORKERS:
            fleet.start(worker)
        api = _start_api(fleet)
        events = sorted(
            (e for s in ("SPX", "NDX") for e in index_events(s, days=24, window=5)),
            key=lambda e: (e["event_ts_ms"], e["symbol"]),
        )
        yield Console(fleet, api, str(api.base_url).rstrip("/"), events, model)
        api.close()
    finally:
        fleet.teardown()


@pytest.fixture(scope="module")
def page(console: Console) -> Iterator[Any]:
    with chromium() as driver:
        driver.get(f"{console.url}/#fleet")
        yield driver


def test_the_fleet_graph_lists_every_worker_and_the_first_view_is_light(console: Console, page: Any) -> None:
    names = load_topology(console.fleet.settings().partitions).order()
    nodes = wait_for(
        "a node per worker of fleet.yaml",
        lambda: (
            {n: all_css(page, f"#fleet-graph [data-worker='{n}']") for n in names}
            if all(all_css(page, f"#fleet-graph [data-worker='{n}']") for n in names)
            else None
        ),
    )
    assert set(nodes) == set(names)
    try:
        wait_for(
            "the started workers ready (green), the others without an instance",
            lambda: (
                (states := graph(page))
                and all(states[w] == "ready" for w in WORKERS)
                and states["labeler"] == "absent"
            ),
            timeout=START_S,
        )
    except AssertionError as exc:
        instances = [
            {k: w.get(k) for k in ("worker", "instance", "lifecycle", "ready", "reasons")}
            for w in console.api.get("/v1/workers").json()["workers"]
        ]
        raise AssertionError(f"{exc}: the graph shows {graph(page)}; /v1/workers: {instances}") from None
    assert all_css(page, "#fleet-graph [data-topic='market.raw']")  # the topics are drawn too
    assert any(t.text.startswith("lag ") for t in all_css(page, "#fleet-graph text.lag"))

    # Keyboard: focus the engine's node, Enter shows its instance and config fingerprint.
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page.execute_script("document.querySelector(\"#fleet-graph [data-worker='engine']\").focus()")
    ActionChains(page).send_keys(Keys.ENTER).perform()  # to whatever has the focus
    fingerprint = console.fleet.settings().config_fingerprint()
    wait_for("the engine's details", lambda: css(page, "#worker-detail .fingerprint").text == fingerprint)
    assert "Worker engine" in css(page, "#worker-detail h3").text
    screenshot(page, "fleet")

    weight = page.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return performance.getEntriesByType('resource').reduce((s, r) => s + r.encodedBodySize, n.encodedBodySize);"
    )
    console.state["first_view_bytes"] = weight
    print(f"first view: {weight} bytes")
    assert 0 < weight < FIRST_VIEW_BYTES
    assert not console_errors(page), console_errors(page)


def test_posted_events_reach_the_board_and_the_symbol_page(console: Console, page: Any) -> None:
    view(page, "board")
    half = len(console.events) // 2
    console.post(half)
    for symbol in ("SPX", "NDX"):
        want = shown(console.last_decision_ms(symbol))
        wait_for(
            f"{symbol}'s latest decision on the board",
            lambda s=symbol, w=want: row(page, s).get("updated") == w,
            BOUND_S,
        )
    assert row(page, "SPX")["regime"] and row(page, "SPX")["control"] == "live"
    # Filter: only the rows that match stay visible.
    css(page, "#board-filter").send_keys("NDX")
    wait_for("filtered", lambda: visible_rows(page) == ["NDX"])
    css(page, "#board-filter").clear()
    page.execute_script("document.getElementById('board-filter').dispatchEvent(new Event('input'))")
    screenshot(page, "board")

    # Enriched signals of SPX at its bars' times, then the symbol page: price, regimes, signals.
    times = [e["event_ts_ms"] for e in console.events[:half] if e["symbol"] == "SPX" and e["kind"] == "BAR"]
    s = console.fleet.settings()
    signals = [
        ("SPX", raw_signal("SPX", t + 1, seq=i, direction=(1, -1)[i % 2]), None) for i, t in enumerate(times)
    ]
    produce_values(s, load_topology(s.partitions), "signals.raw", signals)
    view(page, "symbol/SPX")
    wait_for(
        "SPX's price line and regime shading",
        lambda: all_css(page, "#symbol-chart polyline.price") and all_css(page, "#symbol-chart rect.shade"),
        BOUND_S,
    )
    wait_for(
        "SPX's enriched signals", lambda: len(all_css(page, "#signals tbody tr")) == len(signals), BOUND_S
    )
    # As of the first decision's day: what the fleet believed then.
    first = expected_runs(console.events[:half], DAY_MS)["SPX"][0]
    at = datetime.fromtimestamp((first + 3_600_000) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    page.execute_script("document.getElementById('asof-input').value = arguments[0]", at)
    css(page, "#asof-ask").click()
    wait_for("the as-of answer", lambda: shown(first) in css(page, "#asof-answer .asof-regime").text)
    screenshot(page, "symbol")


def test_a_symbol_paused_from_the_page_stops_and_catches_up(console: Console, page: Any) -> None:
    console.post(len(console.events) // 2)  # alone, this test still has rows to look at
    wait_for(
        "SPX on the board",
        lambda: row(page, "SPX").get("updated") == shown(console.last_decision_ms("SPX")),
        BOUND_S,
    )
    use_token(page, TOKEN)
    view(page, "ops")
    css(page, "#cmd-symbol").send_keys("SPX")
    css(page, "#cmd-reason").send_keys("console test")
    css(page, "#command-form [data-action='pause']").click()
    wait_for("the pause recorded", lambda: css(page, "#cmd-result").get_attribute("data-outcome") == "ok")
    partition = symbol_partition("SPX", console.fleet.settings().partitions)
    _applied_everywhere(console, str(partition))
    wait_for("the pause listed", lambda: all_css(page, "#commands tbody tr[data-key]"))
    screenshot(page, "operations")

    view(page, "board")
    wait_for("SPX's row shows paused", lambda: row(page, "SPX").get("control") == "paused", BOUND_S)
    before = row(page, "SPX")
    console.post(len(console.events))
    time.sleep(4)  # had the pause leaked, decisions would show by now
    assert row(page, "SPX")["offset"] == before["offset"], "a paused symbol's decisions went on"

    view(page, "ops")
    # One step in the page (the table re-renders every 3 s: an element found first may be gone).
    wait_for(
        "the resume button clicked",
        lambda: page.execute_script(
            "const b = document.querySelector('#commands tbody tr[data-key] button'); if (b) b.click(); return !!b;"
        ),
    )
    wait_for(
        "the resume recorded",
        lambda: console.api.get("/v1/control").json()["active"] == [],
        BOUND_S,
        every=0.5,
    )
    view(page, "board")
    wait_for("SPX live again", lambda: row(page, "SPX").get("control") == "live", BOUND_S)
    wait_for(
        "SPX caught up with every posted event",
        lambda: row(page, "SPX").get("updated") == shown(console.last_decision_ms("SPX")),
        BOUND_S,
    )


def _applied_everywhere(console: Console, partition: str) -> None:
    def paused() -> bool:
        instances = [w for w in console.api.get("/v1/workers").json()["workers"] if w["worker"] in WORKERS]
        live = [w for w in instances if w["lifecycle"] == "running"]
        return len(live) >= len(WORKERS) and all(
            partition in w.get("control", {}).get("paused_partitions", {}) for w in live
        )

    wait_for("every worker applied the pause", paused, BOUND_S, every=0.3)


def test_a_model_report_renders_and_writes_without_the_token_are_refused(console: Console, page: Any) -> None:
    console.model.join(180)
    assert not console.model.is_alive(), "training the test model took over 180 s"
    use_token(page, None)
    view(page, "models")
    wait_for("the model's row", lambda: all_css(page, f"#models tr[data-version='{MODEL}']"), BOUND_S)
    click(page, f"#models tr[data-version='{MODEL}'] button[aria-label^='show']")
    wait_for("the gate's criteria", lambda: len(all_css(page, "#model-detail [data-criterion]")) >= 2)
    wait_for(
        "the report's image loaded",
        lambda: page.execute_script(
            "const i = document.getElementById('model-png'); return i && i.complete && i.naturalWidth > 0"
        ),
        BOUND_S,
    )
    screenshot(page, "models")

    # No token: the promote is refused, and the page says so (not a blank).
    click(page, f"#models tr[data-version='{MODEL}'] button[aria-label^='promote']")
    error = wait_for(
        "the refusal shown",
        lambda: [
            e for e in all_css(page, "#errors .error") if e.get_attribute("data-code") == "UNAUTHORIZED"
        ],
    )
    assert "a valid bearer token is required" in error[0].text
    view(page, "ops")
    css(page, "#cmd-symbol").clear()
    css(page, "#cmd-symbol").send_keys("NDX")
    css(page, "#command-form [data-action='halt']").click()
    wait_for("the halt refused", lambda: css(page, "#cmd-result").get_attribute("data-outcome") == "refused")
    assert "UNAUTHORIZED" in css(page, "#cmd-result").text
    assert console.api.get("/v1/control").json()["active"] == [], "a refused write changed something"
    screenshot(page, "refused")
    css(page, "#cmd-symbol").clear()

    use_token(page, TOKEN)  # with it, the promote is the promotion rule's to decide
    view(page, "models")
    page.execute_script("document.getElementById('publish-result').dataset.outcome = ''")  # the 401's
    click(page, f"#models tr[data-version='{MODEL}'] button[aria-label^='promote']")
    outcome = wait_for(
        "the promote answered", lambda: css(page, "#publish-result").get_attribute("data-outcome"), BOUND_S
    )
    if outcome == "refused":  # the gate rejected this model: the rule refuses, the page says why
        said = css(page, "#publish-result")
        assert said.get_attribute("data-code") == "PROMOTION_REFUSED", said.text
        page.execute_script("document.getElementById('promote-force').checked = true")
        page.execute_script("document.getElementById('publish-result').dataset.outcome = ''")
        click(page, f"#models tr[data-version='{MODEL}'] button[aria-label^='promote']")
        wait_for(
            "forced", lambda: css(page, "#publish-result").get_attribute("data-outcome") == "ok", BOUND_S
        )
    assert "is live" in css(page, "#publish-result").text


def test_a_replay_started_from_the_page_shows_match_and_dead_letters_are_listed(
    console: Console, page: Any
) -> None:
    console.post(len(console.events) // 2)
    s = console.fleet.settings()
    from confluent_kafka import Producer

    from workers import clients

    raw = Producer(clients.producer_config(s, None))
    raw.produce(s.topic("market.raw"), b"\x00 not an event", b"SPX")
    raw.flush(10)
    use_token(page, TOKEN)
    view(page, "ops")
    from selenium.webdriver.support.ui import Select

    Select(css(page, "#replay-topic")).select_by_visible_text("engine.runs")
    css(page, "#replay-start").click()
    wait_for(
        "the replay's verdict",
        lambda: (
            css(page, "#replay-state").get_attribute("data-outcome")
            in ("match", "diverges", "failed", "refused")
        ),
        90,
    )
    assert css(page, "#replay-state").get_attribute("data-outcome") == "match", css(
        page, "#replay-report"
    ).text
    assert css(page, "#replay-verdict").text == "match"
    assert page.execute_script(
        "const p = document.getElementById('replay-progress'); return p.value === p.max && p.max >= 1"
    )
    dead = wait_for(
        "the undecodable record in the dead letters",
        lambda: [
            r for r in all_css(page, "#dead-letters tbody tr[data-dead-letter]") if "market.raw.dlq" in r.text
        ],
        BOUND_S,
    )
    code = dead[0].find_element("css selector", ".error-code").text
    assert code, "an error_code is shown"
    key = dead[0].get_attribute("data-dead-letter")
    original = console.api.get(f"/v1/dead-letters/{key}")
    assert original.status_code == 200 and original.content == b"\x00 not an event"
    screenshot(page, "replay")


def test_a_killed_worker_turns_red_then_green_again(console: Console, page: Any) -> None:
    view(page, "fleet")
    wait_for("the enricher green", lambda: graph(page).get("enricher") == "ready", BOUND_S)
    killed = time.monotonic()
    console.fleet.stop("enricher", sig=signal.SIGKILL)
    wait_for("the killed enricher red", lambda: graph(page).get("enricher") == "down", 40)
    red_s = time.monotonic() - killed
    screenshot(page, "fleet-down")
    console.fleet.start("enricher", name="enricher-again")
    restarted = time.monotonic()
    wait_for("the restarted enricher green", lambda: graph(page).get("enricher") == "ready", 40)
    print(
        f"enricher: SIGKILL -> red in {red_s:.1f} s; restart -> green in {time.monotonic() - restarted:.1f} s"
    )


LOAD_SYMBOLS, LOAD_ROUNDS, LOAD_RATE = 500, 10, 1000  # decisions: 5,000 at 1,000/s


def test_the_board_stays_responsive_with_500_symbols_updating(console: Console, page: Any) -> None:
    """Decisions for 500 symbols at 1,000/s straight onto regime.events: every row ends on its
    last decision, the page's main thread never stalls long, and each row update's delay after
    its record was acknowledged (committed: a plain producer's record is readable on its ack)
    is measured (printed; the p99 goal is 250 ms, on an idle machine)."""
    from confluent_kafka import Producer

    from tests.samples import regime_event
    from workers import clients
    from workers.contracts import Serde

    view(page, "board")
    page.execute_script(
        "window.__gap = {max: 0, last: performance.now()};"
        "window.__gapTimer = setInterval(() => { const n = performance.now();"
        " window.__gap.max = Math.max(window.__gap.max, n - window.__gap.last - 20); window.__gap.last = n; }, 20);"
        "window.consoleStats.updates.length = 0;"
        "window.__rows = 0; new MutationObserver((ms) => { for (const m of ms) window.__rows += m.addedNodes.length; })"
        ".observe(document.querySelector('#board .board-body'), {childList: true});"
        "window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })"
        ".observe({type: 'longtask'});"
    )
    s = console.fleet.settings()
    serde = Serde.of(s)
    producer = Producer(clients.producer_config(s, None))
    topic = s.topic("regime.events")
    acked: dict[tuple[int, int], float] = {}

    def on_ack(err: Any, msg: Any) -> None:
        if err is None:
            acked[(msg.partition(), msg.offset())] = time.time() * 1000

    symbols = [f"Z{i:03d}" for i in range(LOAD_SYMBOLS)]
    regimes = ("TREND_UP", "RANGE", "TREND_DOWN")
    t0, started = 1_600_000_000_000, time.monotonic()
    for n in range(LOAD_ROUNDS * LOAD_SYMBOLS):
        rnd, symbol = divmod(n, LOAD_SYMBOLS)
        value = regime_event(
            t0 + rnd * DAY_MS, regimes[(rnd // 3 + symbol) % 3], 0.5 + 0.04 * rnd, symbols[symbol]
        )
        producer.produce(
            topic,
            serde.encode("OrchestratorEvent", value, topic=topic),
            symbols[symbol].encode(),
            on_delivery=on_ack,
        )
        producer.poll(0)
        pause = started + (n + 1) / LOAD_RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    assert producer.flush(30) == 0
    sent_s = time.monotonic() - started
    last = shown(t0 + (LOAD_ROUNDS - 1) * DAY_MS)
    wait_for(
        "every one of the 500 rows on its last decision",
        lambda: (
            page.execute_script(
                "return [...document.querySelectorAll('#board [data-symbol^=\"Z\"] .updated')]"
                ".filter((c) => c.textContent === arguments[0]).length",
                last,
            )
            == LOAD_SYMBOLS
        ),
        BOUND_S,
    )
    stall_ms = page.execute_script("clearInterval(window.__gapTimer); return window.__gap.max")
    long_tasks = sorted(page.execute_script("return window.__long"), reverse=True)
    print(f"long tasks (ms, longest first): {[round(t) for t in long_tasks[:10]]} of {len(long_tasks)}")
    updates = page.execute_script("return window.consoleStats.updates")
    delays = sorted(u["at"] - acked[(u["p"], u["o"])] for u in updates if (u["p"], u["o"]) in acked)
    assert len(delays) >= LOAD_SYMBOLS, f"only {len(delays)} row updates matched a produced decision"
    p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
    console.state["latency"] = (p50, p99, max(delays), len(delays))
    print(
        f"500 symbols, {LOAD_ROUNDS * LOAD_SYMBOLS} decisions in {sent_s:.1f} s: ack -> row p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, max {max(delays):.0f} ms over {len(delays)} row updates; longest main-thread stall {stall_ms:.0f} ms"
    )
    # Updated in place: rows are (re)inserted only when new or re-ordered, never per decision (a
    # board rebuilt per decision would insert 500 rows 5,000 times). Wall-clock stalls depend on
    # the machine's load (printed; rebuilding per decision stalled 3.4-5.8 s here, in place
    # 0.1-3.4 s at load averages of 9-14): bounded only against a page that stops answering.
    inserted = page.execute_script("return window.__rows")
    print(f"board rows inserted during the load: {inserted}")
    assert inserted <= 5 * LOAD_SYMBOLS, (
        f"{inserted} rows inserted for {LOAD_SYMBOLS} symbols: the board is rebuilt"
    )
    assert stall_ms < 10_000, f"the page stalled {stall_ms:.0f} ms while 500 symbols updated"
    # Still usable: a filter typed now shows the one row it names.
    css(page, "#board-filter").send_keys("Z123")
    wait_for("filtered to Z123", lambda: visible_rows(page) == ["Z123"])
    css(page, "#board-filter").clear()
    page.execute_script("document.getElementById('board-filter').dispatchEvent(new Event('input'))")
    screenshot(page, "board-500")
