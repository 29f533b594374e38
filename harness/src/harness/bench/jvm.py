"""What the local broker's JVM spent compiling: a broker started minutes before spends much of
its CPU in the JIT compiler (on 2 cores, for minutes), which a window's broker CPU then counts
(docs/benchmarks.md, "Fetches at low rates, and where the broker's CPU goes")."""

from __future__ import annotations

import shutil
import subprocess

COUNTER = "java.ci.totalTime"  # ticks spent in JIT compilation (wall time of the compilations)
FREQUENCY = "sun.os.hrt.frequency"  # ticks per second


def compile_seconds(pid: int | None) -> float | None:
    """The JVM's JIT compile time so far, in seconds (an upper bound of its CPU); None when
    there is no local broker or no `jcmd` (a JDK tool) to ask."""
    jcmd = shutil.which("jcmd")
    if pid is None or jcmd is None:
        return None
    try:
        done = subprocess.run(
            [jcmd, str(pid), "PerfCounter.print"], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return None
    counters = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        return int(counters[COUNTER]) / int(counters[FREQUENCY])
    except (KeyError, ValueError, ZeroDivisionError):
        return None
