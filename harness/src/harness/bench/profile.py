"""(p) Where each worker's CPU goes: the four workers as processes on fresh topics (as (c)),
raw events offered at fixed rates, and py-spy sampling every worker for the middle of each
window (`--gil`: only the time a thread holds the GIL, so waits in librdkafka or a select do
not count). Per worker and window: CPU seconds per 1,000 events, and the frames where the most
samples were taken (self time, by function and line). py-spy slows what it samples a little:
these windows are for the shares, not for the rates, which (c) measures without it.

`BENCH_WORKERS_PATH=/path/to/an/older/checkout` runs that checkout's workers (started in its
directory) under this harness: the before and after of a change, on one machine, minutes apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .steady import Offered, Window, steady_fleet

RATES = (5_000, 10_000)
WINDOW_S = 30.0
SAMPLE_S = 15  # py-spy's share of each window, after a third of it
TOP = 8  # frames reported per worker
WORKERS = ("ingest", "scheduler", "engine", "publisher")


def run_profile_only(root: Path, stamp: str) -> dict[str, Any]:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when its bin is not on PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: `make venv` installs the dev extra, which has it")
    workers_path = os.environ.get("BENCH_WORKERS_PATH")
    if workers_path:
        # The launcher runs `python -m workers.cli.main`, which imports from its working
        # directory first: the workers of the checkout it starts in.
        root = root.resolve()
        os.chdir(workers_path)
        print(f"(p) the workers of {workers_path}", flush=True)
    out: dict[str, Any] = {"workers_path": workers_path or "this checkout"}
    offered = Offered(seed=11)
    with steady_fleet(root, f"bench-p-{stamp}") as steady:
        for rate in RATES:
            print(f"(p) {rate} events/s for {WINDOW_S:.0f} s, py-spy on every worker...", flush=True)
            folder = root / f"profile-{stamp}" / str(rate)
            folder.mkdir(parents=True, exist_ok=True)
            pids = {w: steady.fleet.procs[w].pid for w in WORKERS}
            spies = threading.Thread(target=_record_all, args=(spy, pids, folder), daemon=True)
            spies.start()
            window = steady.window(Window(f"profile_{rate}", rate, WINDOW_S), offered)
            spies.join(SAMPLE_S + 30)
            out[f"profile_{rate}"] = {
                w: {"cpu_s_per_1000": window["cpu_s_per_1000"].get(w), "top": top_frames(folder / f"{w}.txt")}
                for w in WORKERS
            }
            steady.drain()
    print_profile(out)
    return {"profile": out}


def _record_all(spy: str, pids: dict[str, int], folder: Path) -> None:
    time.sleep(WINDOW_S / 3)
    sample = [spy, "record", "--gil", "--nonblocking", "-r", "100", "-d", str(SAMPLE_S), "-f", "raw"]
    procs = [
        subprocess.Popen(
            [*sample, "-o", str(folder / f"{w}.txt"), "--pid", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for w, pid in pids.items()
    ]
    for p in procs:
        p.wait(SAMPLE_S + 20)


def top_frames(path: Path, top: int = TOP) -> list[tuple[str, float]]:
    """The frames with the most self samples in a py-spy raw (collapsed stacks) file, as
    'function (file:line)' and their share of all samples."""
    if not path.exists():
        return []
    leaves: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaves[_short(stack.split(";")[-1])] += int(count)
    total = sum(leaves.values()) or 1
    return [(frame, round(n / total, 3)) for frame, n in leaves.most_common(top)]


def _short(frame: str) -> str:
    """'take (/x/workers/runtime/reader.py:101)' -> 'take (runtime/reader.py:101)'."""
    name, _, where = frame.partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def print_profile(out: dict[str, Any]) -> None:
    for key, workers in out.items():
        if not key.startswith("profile_"):
            continue
        print(f"\n{key.removeprefix('profile_')} events/s ({out['workers_path']})")
        for worker, found in workers.items():
            print(f"  {worker}: {found['cpu_s_per_1000']} CPU s per 1,000 events")
            for frame, share in found["top"]:
                print(f"    {share * 100:5.1f} %  {frame}")
