"""A real NautilusTrader node (harness/demo/nautilus_node.py) in its own process, as the demo,
the bridge bench and the bridge tests run it: what its FleetActor hears, read from the JSON
lines it writes, and a clean stop. Importing this module does not import nautilus_trader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

NODE_MODULE = "harness.demo.nautilus_node"


class NodeProcess:
    """One run of the node: its Strategy publishes `signals` (or those of `signals_file`), its
    FleetActor writes each `on_data` to `out` as a JSON line; the node stops by itself after
    `seconds`."""

    def __init__(
        self,
        redis_url: str,
        trader: str,
        stream: str,
        out: Path,
        *,
        signals: int = 0,
        symbols: int = 1,
        signals_file: Path | None = None,
        seconds: float = 300,
        quiet: bool = False,
    ) -> None:
        self.out = out
        args = [
            "--redis-port", str(urlparse(redis_url).port or 6379), "--trader-id", trader,
            "--stream", stream, "--out", str(out), "--signals", str(signals),
            "--symbols", str(symbols), "--seconds", str(seconds),
        ]  # fmt: skip
        if signals_file is not None:
            args += ["--signals-file", str(signals_file)]
        env = {**os.environ, "NODE_LOG_LEVEL": "ERROR"} if quiet else os.environ.copy()
        # Imported, not run as __main__: the node's Strategy and Actor classes must live in
        # their module (run as __main__ they are copies the node does not recognise).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from {NODE_MODULE} import main; main()", *args],
            env=env,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        self._read = 0  # bytes of `out` parsed so far: each call parses only the new lines
        self._heard: list[dict[str, Any]] = []

    def heard(self) -> list[dict[str, Any]]:
        """Everything the Actor has written so far, in order (complete lines only)."""
        if self.out.exists():
            with self.out.open("rb") as f:
                f.seek(self._read)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._read += len(complete)
            self._heard += [json.loads(line) for line in complete.splitlines()]
        return self._heard

    def count(self, kind: str) -> int:
        return sum(h["type"] == kind for h in self.heard())

    def stop(self, timeout_s: float = 30) -> dict[str, Any] | None:
        """SIGINT (a clean stop: the Actor checkpoints its cursor), a SIGKILL after `timeout_s`;
        the Actor's closing line, None when it wrote none."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        closing = [h for h in self.heard() if h["type"] == "stopped"]
        return closing[-1] if closing else None
