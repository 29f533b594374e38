"""The chart's tools and renders, shared by tests/k8s.

Tools come from helm/tools.sh's cache (REGIME_FLEET_TOOLS, default ~/.cache/regime-fleet-tools)
or PATH. A missing tool skips its tests with the reason, unless REGIME_FLEET_REQUIRE_K8S_TOOLS=1
(`make k8s-check` and `make test` set it after installing them): then it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "regime-fleet"
PROFILES = ("minimal", "production", "sasl-tls")
KUBE = ("--kube-version", "1.30.0")  # the oldest the chart supports (Chart.yaml kubeVersion)
TOOLS_BIN = Path(os.environ.get("REGIME_FLEET_TOOLS", Path.home() / ".cache" / "regime-fleet-tools")) / "bin"


def missing(what: str) -> None:
    """Skip, or fail when the tools are required, saying how to get what is missing."""
    reason = f"{what} not found: run helm/tools.sh (or make k8s-check)"
    if os.environ.get("REGIME_FLEET_REQUIRE_K8S_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def tool(name: str) -> str:
    """The path of a tool from helm/tools.sh's cache or PATH."""
    candidate = TOOLS_BIN / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        missing(f"{name} (in {TOOLS_BIN} or on PATH)")
    return str(found)


def run(*args: str, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def helm_template(*extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(tool("helm"), "template", "rf", str(CHART), "--namespace", "rf", *KUBE, *extra, check=check)


def profile_args(profile: str) -> list[str]:
    return ["-f", str(CHART / "ci" / f"{profile}-values.yaml")]


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """Each CI profile rendered once: {profile: manifest text}."""
    return {p: helm_template(*profile_args(p)).stdout for p in PROFILES}


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]
