"""The Dockerfile: what it promises, and its two pip steps run into a clean venv (no Docker
here): a wheel of the package, installed offline from wheels like the image's final stage."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from tests.k8s.conftest import CHART, ROOT, TOOLS_BIN, missing, run

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# The Dockerfile's commands, verbatim: the test below runs the same ones.
WHEEL_STEP = "pip wheel --no-cache-dir --wheel-dir /wheels ."
INSTALL_STEP = "pip install --no-cache-dir --no-index --find-links /wheels regime-fleet"


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) == 2
    assert "python:3.11-slim" in DOCKERFILE
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    values = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert user == [f"{values['runAsUser']}:{values['runAsGroup']}"], "the chart's runAsUser is the image's"
    assert re.search(r'^ENTRYPOINT \["regime-fleet"\]', DOCKERFILE, re.M)
    assert WHEEL_STEP in DOCKERFILE and INSTALL_STEP in DOCKERFILE


def test_dockerfile_copies_what_exists_and_points_the_package_at_it() -> None:
    for source, target in re.findall(r"^COPY (?!--from)(\S+) (\S+)$", DOCKERFILE, re.M):
        if source.endswith("./") or target.endswith("./"):
            continue
        assert list(ROOT.glob(source)), f"COPY {source}: nothing in the repository"
    env = dict(re.findall(r"(REGIME_FLEET_\w+)=(\S+)", DOCKERFILE))
    assert env["REGIME_FLEET_TOPOLOGY"] == "/opt/regime-fleet/topology/fleet.yaml"
    assert f"COPY topology/fleet.yaml {env['REGIME_FLEET_TOPOLOGY']}" in DOCKERFILE
    assert f"COPY schemas/avro/*.avsc {env['REGIME_FLEET_SCHEMA_DIR']}/" in DOCKERFILE


HARNESS = ("bench", "chaos", "demo", "broker")
DEMO_ONLY = {"arch", "testcontainers"}  # harness/pyproject.toml's, never the product's


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[=<>!~;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_product_holds_no_harness_and_no_demo_dependency() -> None:
    """The wheel (and so the image) is `workers` only; arch and testcontainers are the harness's."""
    from setuptools import find_packages

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    required = _names(project["project"]["dependencies"])
    extras = {n for deps in project["project"]["optional-dependencies"].values() for n in _names(deps)}
    assert not (required | extras) & DEMO_ONLY, "a harness dependency is back in the root pyproject"
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["workers*"]
    shipped = project["tool"]["setuptools"].get("package-data", {})
    assert set(shipped) <= {"workers.api.console"}, "the broker's pom.xml is the harness's"
    packages = find_packages(where=str(ROOT), include=include)
    assert "workers.cli" in packages and all(p.split(".")[0] == "workers" for p in packages)
    assert not {f"workers.{h}" for h in HARNESS} & set(packages), "a harness is back in the product"
    harness = tomllib.loads((ROOT / "harness" / "pyproject.toml").read_text())["project"]
    assert {"regime-fleet", *DEMO_ONLY} <= _names(harness["dependencies"])
    # Nor is it in the image's build context.
    allowed = [ln[1:] for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.startswith("!")]
    assert not [a for a in allowed if a.startswith("harness")]
    assert not re.search(r"^COPY\s+harness", DOCKERFILE, re.M)


def _wheelhouse() -> Path:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    path = TOOLS_BIN.parent / "wheelhouse" / key
    if not (path / ".complete").exists():
        missing(f"the dependency wheelhouse for this pyproject.toml ({path})")
    return path


def test_the_image_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    wheels = _wheelhouse()
    dist = tmp_path / "dist"
    # Stage 1 (the package's own wheel; its dependencies come from the wheelhouse).
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(ROOT))
    (wheel,) = dist.glob("regime_fleet-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = [name.split("/") for name in z.namelist()]
    assert {n[0] for n in names if not n[0].endswith(".dist-info")} == {"workers"}, names
    assert not [n for n in names if n[0] == "workers" and n[1] in HARNESS], "a harness in the wheel"
    # Stage 2: a clean venv of the same Python, offline.
    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv))
    run(
        str(venv / "bin" / "pip"),
        *INSTALL_STEP.split()[1:-3],
        "--find-links",
        str(wheels),
        "--find-links",
        str(dist),
        "regime-fleet",
    )
    # The runtime contracts where the image puts them, and a working directory outside the repo.
    opt = tmp_path / "opt"
    (opt / "topology").mkdir(parents=True)
    shutil.copy(ROOT / "topology" / "fleet.yaml", opt / "topology" / "fleet.yaml")
    shutil.copytree(
        ROOT / "schemas" / "avro", opt / "schemas" / "avro", ignore=shutil.ignore_patterns("frozen")
    )
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "REGIME_FLEET_TOPOLOGY": str(opt / "topology" / "fleet.yaml"),
        "REGIME_FLEET_SCHEMA_DIR": str(opt / "schemas" / "avro"),
    }
    workdir = tmp_path / "state"
    workdir.mkdir()

    def cli(*args: str) -> str:
        result = subprocess.run(
            [str(venv / "bin" / "regime-fleet"), *args], capture_output=True, text=True, env=env, cwd=workdir
        )
        assert result.returncode == 0, f"regime-fleet {' '.join(args)}: {result.stderr}"
        return result.stdout

    assert '"valid": true' in cli("topology", "validate")
    workers = list(yaml.safe_load((ROOT / "topology" / "fleet.yaml").read_text())["workers"])
    assert all(w in cli("run", "--help") for w in workers)
    # What `run` imports: each worker's core (the registry finds it by name), each service's app.
    check = (
        "import importlib, sys; from workers.contracts.schemas import SCHEMA_NAMES, contract; "
        "[contract(n) for n in SCHEMA_NAMES]; [importlib.import_module(m) for m in sys.argv[1:]]"
    )
    modules = [f"workers.{w}.processor" for w in workers] + ["workers.api.app", "workers.trainer.app"]
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check, *modules],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "workers" / "cli" / "main.py").exists()
    assert not (site / "tests").exists(), "the image holds the package only"
    assert not (site / "harness").exists() and not list(site.glob("regime_fleet_harness*"))
    assert not [d for d in site.iterdir() if d.name.split("-")[0].lower() in DEMO_ONLY], "arch in the image"
    # The harness's commands are not there, and say where they come from.
    demo = subprocess.run(
        [str(venv / "bin" / "regime-fleet"), "demo"], capture_output=True, text=True, env=env, cwd=workdir
    )
    assert demo.returncode == 2 and "source checkout" in demo.stderr, demo.stderr
    assert os.access(venv / "bin" / "regime-fleet", os.X_OK)
