"""The compiled extension for the tests that compare it with its Python reference."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest


def native_module() -> ModuleType:
    """regime_fleet_native; where `make venv` had no cargo to build it (on purpose, and it said
    so), the calling test module is skipped. With cargo on the machine a missing build fails."""
    try:
        import regime_fleet_native
    except ImportError:
        if shutil.which("cargo") or (Path.home() / ".cargo" / "bin" / "cargo").exists():
            raise
        pytest.skip("regime_fleet_native is not built (no cargo on PATH)", allow_module_level=True)
    return regime_fleet_native
