"""The demo's console: the api worker started beside the fleet, its URL and a bearer token
printed, and `--keep` holding the fleet and the console up until Ctrl-C (docs/console.md)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
import urllib.request

from harness.launcher import Launcher, free_port

DEFAULT_PORT = 8080


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_console(fleet: Launcher) -> str:
    """Start the api (REGIME_FLEET_API__PORT, else 8080, else any free port) with a token of its
    own (REGIME_FLEET_DEMO_TOKEN, else a random one); print the console's URL and the token."""
    wanted = int(os.environ.get("REGIME_FLEET_API__PORT", DEFAULT_PORT))
    port = wanted if _free(wanted) else free_port()
    token = os.environ.get("REGIME_FLEET_DEMO_TOKEN") or secrets.token_urlsafe(12)
    env = {"REGIME_FLEET_API__PORT": str(port), "REGIME_FLEET_API__TOKENS": json.dumps([token])}
    fleet.start("api", env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}readyz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    print(f"console: {url}  (bearer token for writes: {token}; api log: {fleet.log_dir}/api.log)", flush=True)
    return url


def keep_until_interrupted(url: str) -> None:
    """Hold everything up until Ctrl-C (the launcher then stops the fleet as usual)."""
    print(f"\nThe fleet and the console stay up: open {url}  (Ctrl-C stops them)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping the fleet...", flush=True)
