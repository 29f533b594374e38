"""The Dockerfile: what it promises, and its pip steps run into a clean venv (no Docker here):
wheels of the package and of ingest's compiled path (native/), installed offline from wheels like
the image's final stage."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.k8s.conftest import CHART, ROOT, TOOLS_BIN, missing, run

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# The Dockerfile's commands, verbatim: the test below runs the same ones.
WHEEL_STEP = "pip wheel --no-cache-dir --wheel-dir /wheels .["
NATIVE_WHEEL_STEP = "pip wheel --no-cache-dir --wheel-dir /wheels ./native"
INSTALL_STEP = "pip install --no-cache-dir --no-index --find-links /wheels regime-fleet"
NATIVE = tomllib.loads((ROOT / "native" / "pyproject.toml").read_text())["project"]["name"]
BOOKWORM_RUSTC = "1.63"  # Debian bookworm's `rustc`, which the wheels stage installs with `cargo`
COMPILED = "the compiled path (regime_fleet_native)"  # what ingest says it runs (workers/ingest/native.py)


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


def _rust_version(text: str) -> tuple[int, int, int]:
    major, minor, patch = [*text.split("."), "0", "0"][:3]
    return int(major), int(minor), int(patch)


def test_the_wheels_stage_builds_the_compiled_ingest_path_and_the_runtime_has_no_rust() -> None:
    wheels, runtime = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    assert "apt-get install -y --no-install-recommends cargo" in wheels
    assert re.search(r"^COPY native \./native$", wheels, re.M) and NATIVE_WHEEL_STEP in wheels
    assert re.search(rf"{re.escape(INSTALL_STEP)}\S* {NATIVE}$", runtime, re.M), "the native wheel"
    instructions = "\n".join(ln for ln in runtime.splitlines() if not ln.lstrip().startswith("#"))
    assert not re.search(r"apt-get|cargo|rustc", instructions), "Rust in the runtime stage"
    # What bookworm's cargo (1.65) and rustc (1.63) build: a version-3 lockfile, that MSRV.
    assert tomllib.loads((ROOT / "native" / "Cargo.lock").read_text())["version"] <= 3
    package = tomllib.loads((ROOT / "native" / "Cargo.toml").read_text())["package"]
    assert _rust_version(package["rust-version"]) <= _rust_version(BOOKWORM_RUSTC)
    # native/ is in the build context, its local build (native/target) is not.
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and ln[0] != "#"]
    assert "!native/" in lines and lines.index("native/target") > lines.index("!native/")


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


def _cargo() -> Path | None:
    """The system's packaged cargo where there is one (on Debian bookworm, the image's), else
    any cargo; None: no Rust here, and `make venv` leaves the compiled path out too."""
    for found in ("/usr/bin/cargo", shutil.which("cargo"), Path.home() / ".cargo" / "bin" / "cargo"):
        if found and Path(found).exists():
            return Path(found)
    return None


def _native_wheel(tmp_path: Path, dist: Path, cargo: Path) -> Path:
    """Stage 1's native step, offline: native/ as the build context has it (no target/),
    maturin and the locked crates (vendored) from helm/tools.sh."""
    raw = (ROOT / "native" / "pyproject.toml").read_bytes() + (ROOT / "native" / "Cargo.lock").read_bytes()
    sources = TOOLS_BIN.parent / "native" / hashlib.sha256(raw).hexdigest()[:16]
    if not (sources / ".complete").exists():
        missing(f"native/'s build requirement and locked crates ({sources})")
    for manifest in (sources / "crates").glob("*/Cargo.toml"):
        wanted = tomllib.loads(manifest.read_text())["package"].get("rust-version", "1.0")
        assert _rust_version(wanted) <= _rust_version(BOOKWORM_RUSTC), f"{manifest.parent.name}: {wanted}"
    src = tmp_path / "src"
    shutil.copytree(ROOT / "native", src / "native", ignore=shutil.ignore_patterns("target"))
    (src / ".cargo").mkdir()
    (src / ".cargo" / "config.toml").write_text(
        f'[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "{sources / "crates"}"\n'
        "[net]\noffline = true\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"CARGO_TARGET_DIR", "RUSTC", "CARGO"}}
    env["PATH"] = f"{cargo.parent}:{env.get('PATH', '/usr/bin:/bin')}"
    rustc = subprocess.run([cargo.parent / "rustc", "--version"], capture_output=True, text=True, env=env)
    *pip_wheel, wheel_dir, _, context = NATIVE_WHEEL_STEP.split()
    offline = ["--no-index", "--find-links", str(sources / "wheels")]
    result = subprocess.run(
        [sys.executable, "-m", *pip_wheel, *offline, wheel_dir, str(dist), context],
        capture_output=True,
        text=True,
        cwd=src,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, f"{rustc.stdout}{result.stdout[-3000:]}{result.stderr[-3000:]}"
    (wheel,) = dist.glob("regime_fleet_native-*-abi3-*.whl")
    return wheel


@dataclass(frozen=True)
class Image:
    """A clean venv holding what the image's final stage installs, and how to run in it."""

    venv: Path
    env: dict[str, str]
    workdir: Path
    native: str | None  # why the compiled path is not in it (no cargo here), or None


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    tmp_path = tmp_path_factory.mktemp("image")
    wheels = _wheelhouse()
    dist = tmp_path / "dist"
    # Stage 1: the package's own wheel (its dependencies come from the wheelhouse) ...
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(ROOT))
    (wheel,) = dist.glob("regime_fleet-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = [name.split("/") for name in z.namelist()]
    assert {n[0] for n in names if not n[0].endswith(".dist-info")} == {"workers"}, names
    assert not [n for n in names if n[0] == "workers" and n[1] in HARNESS], "a harness in the wheel"
    # ... and ingest's compiled path, where this machine has cargo.
    cargo = _cargo()
    packages = ["regime-fleet"]
    if cargo is not None:
        _native_wheel(tmp_path, dist, cargo)
        packages.append(NATIVE)
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
        *packages,
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
    return Image(venv, env, workdir, None if cargo else "no cargo on this machine: native/ not built")


def _python(image: Image, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(image.venv / "bin" / "python"), "-c", code, *args],
        capture_output=True,
        text=True,
        env=image.env,
        cwd=image.workdir,
    )


def test_the_image_install_steps_work_in_a_clean_venv(image: Image) -> None:
    venv, env, workdir = image.venv, image.env, image.workdir

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
    result = _python(image, check, *modules)
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


def test_the_image_runs_the_compiled_ingest_path(image: Image) -> None:
    """Ingest, as the image runs it live (single-object records, spliced), says it takes the
    compiled path: the native wheel installed beside the package, no Rust needed to run it."""
    if image.native:
        pytest.skip(image.native)
    check = (
        "from workers.contracts import Serde; from workers.ingest.processor import IngestProcessor; "
        "from workers.ingest.settings import IngestSettings; from workers.processing import Edges; "
        "print(IngestProcessor(IngestSettings(), Edges(splice=Serde().encode_embedding)).path)"
    )
    result = _python(image, check)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == COMPILED, result.stdout
    site = next((image.venv / "lib").glob("python3*/site-packages"))
    assert list(site.glob("regime_fleet_native/*.abi3.so")), "the extension is in the venv"
