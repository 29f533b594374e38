"""The Helm chart: lint, strict schema validation of every profile, its unit tests, its values
against topology/fleet.yaml, and its settings against workers/config.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from tests.k8s.conftest import (
    CHART,
    KUBE,
    PROFILES,
    ROOT,
    TOOLS_BIN,
    documents,
    helm_template,
    missing,
    profile_args,
    run,
    tool,
)
from workers.config import FleetSettings, load_settings

KUBERNETES_VERSIONS = ("1.30.0", "1.35.0")  # helm/tools.sh fetches their schemas
# Workers the chart knows that are not stream processors of the topology.
SERVICES = {"api", "trainer", "nautilus"}  # nautilus: off by default (needs your Redis)
NOT_BUILT_YET: set[str] = set()  # workers the values know before they exist (off by default)


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict(profile: str) -> None:
    result = run(tool("helm"), "lint", "--strict", str(CHART), *KUBE, *profile_args(profile))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_kubeconform_strict(rendered: dict[str, str], profile: str, version: str, tmp_path: Path) -> None:
    schemas = TOOLS_BIN.parent / "k8s-schemas" / f"v{version}-standalone-strict"
    if not (schemas / "_definitions.json").exists():
        missing(f"Kubernetes {version} JSON schemas ({schemas})")
    manifest = tmp_path / f"{profile}.yaml"
    manifest.write_text(rendered[profile])
    result = run(
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-kubernetes-version",
        version,
        "-schema-location",
        f"{schemas.parent}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}"
        "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        "-schema-location",
        str(ROOT / "helm" / "schemas") + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
        str(manifest),
    )
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout


def test_helm_unittest() -> None:
    result = run(tool("helm-unittest"), "--color=false", str(CHART))
    assert "Charts:      1 passed" in result.stdout, result.stdout


def test_production_profile_has_every_production_feature(rendered: dict[str, str]) -> None:
    kinds = {d["kind"] for d in documents(rendered["production"])}
    assert {
        "ScaledObject",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "StatefulSet",
    } <= kinds


def test_production_profile_runs_a_warm_standby_beside_every_pipeline_worker(
    rendered: dict[str, str],
) -> None:
    containers = {
        c["name"]
        for d in documents(rendered["production"])
        if d["kind"] in ("StatefulSet", "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert {f"{w}-standby" for w in ("ingest", "scheduler", "engine", "publisher")} <= containers


def test_bad_values_fail_at_install_with_a_readable_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text(
        "kafka: {securityProtocol: SASL_SCRAM}\nfleet: {partitions: 0}\nworkers: {engine: {replica: 3}}\n"
    )
    result = helm_template("-f", str(bad), check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert "at '/kafka/securityProtocol': value must be one of 'PLAINTEXT', 'SSL'" in result.stderr
    assert "at '/fleet/partitions': minimum: got 0, want 1" in result.stderr
    assert "at '/workers/engine': additional properties 'replica' not allowed" in result.stderr


def test_rules_the_schema_cannot_express_fail_with_a_message() -> None:
    result = helm_template("--set", "fleet.partitions=2", "--set", "workers.engine.replicas=3", check=False)
    assert result.returncode != 0
    assert "workers.engine.replicas (3) is above fleet.partitions (2)" in result.stderr


def _values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())  # type: ignore[no-any-return]


def test_values_workers_are_the_topology_workers() -> None:
    topology = yaml.safe_load((ROOT / "topology" / "fleet.yaml").read_text())["workers"]
    values = _values()
    workers, defaults = values["workers"], values["workerDefaults"]
    missing = sorted(set(topology) - set(workers))
    assert not missing, f"topology workers without a chart entry in helm/regime-fleet/values.yaml: {missing}"
    for name, spec in topology.items():
        entry = {**defaults, **workers[name]}
        assert entry["enabled"], f"workers.{name} is a topology worker: enabled by default"
        assert entry["inputs"] == spec["inputs"], f"workers.{name}.inputs differ from topology/fleet.yaml"
        kind = "StatefulSet" if spec.get("stores") else "Deployment"
        assert entry["kind"] == kind, f"workers.{name}: {kind} (stores: {spec.get('stores')})"
    extra = set(workers) - set(topology)
    assert extra <= SERVICES | NOT_BUILT_YET, f"chart workers not in the topology: {sorted(extra)}"
    for name in extra & NOT_BUILT_YET:
        assert workers[name]["enabled"] is False, f"workers.{name} does not exist yet: off by default"


def _unknown_keys(model: type[BaseModel], data: dict[str, Any], where: str = "") -> list[str]:
    """Keys of a settings file that no field of the model (recursively) declares."""
    unknown = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            unknown.append(f"{where}{key}")
        elif (
            isinstance(value, dict)
            and isinstance(field.annotation, type)
            and issubclass(field.annotation, BaseModel)
        ):
            unknown += _unknown_keys(field.annotation, value, f"{where}{key}.")
    return unknown


@pytest.mark.parametrize("profile", PROFILES)
def test_every_settings_file_loads_and_names_only_real_settings(
    rendered: dict[str, str], profile: str, tmp_path: Path
) -> None:
    maps = [
        d for d in documents(rendered[profile]) if d["kind"] == "ConfigMap" and "settings.yaml" in d["data"]
    ]
    assert len(maps) >= 7  # every worker and the topic-init hook
    for cm in maps:
        text = cm["data"]["settings.yaml"]
        assert not _unknown_keys(FleetSettings, yaml.safe_load(text)), cm["metadata"]["name"]
        path = tmp_path / f"{cm['metadata']['name']}.yaml"
        path.write_text(text)
        settings = load_settings(path)
        assert settings.runtime.http_port == 8080 and str(settings.runtime.state_dir) == "/state"


def test_secrets_reach_settings_through_the_environment(
    rendered: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = documents(rendered["sasl-tls"])
    cm = next(d for d in docs if d["metadata"]["name"] == "rf-engine-settings")
    engine = next(d for d in docs if d["metadata"]["name"] == "rf-engine" and d["kind"] == "StatefulSet")
    env = {e["name"] for e in engine["spec"]["template"]["spec"]["containers"][0]["env"]}
    secret_env = {n for n in env if n.startswith("REGIME_FLEET_KAFKA__")}
    assert secret_env == {
        "REGIME_FLEET_KAFKA__SASL_USERNAME",
        "REGIME_FLEET_KAFKA__SASL_PASSWORD",
        "REGIME_FLEET_KAFKA__SSL_KEY_PASSWORD",
        "REGIME_FLEET_KAFKA__SCHEMA_REGISTRY_BASIC_AUTH",
    }
    for name in secret_env:
        monkeypatch.setenv(name, f"value-of-{name}")
    path = tmp_path / "settings.yaml"
    path.write_text(cm["data"]["settings.yaml"])
    kafka = load_settings(path).kafka
    assert kafka.sasl_password.get_secret_value() == "value-of-REGIME_FLEET_KAFKA__SASL_PASSWORD"
    assert kafka.ssl_key_password.get_secret_value() == "value-of-REGIME_FLEET_KAFKA__SSL_KEY_PASSWORD"
    assert kafka.sasl_username == "value-of-REGIME_FLEET_KAFKA__SASL_USERNAME"
    assert kafka.security_protocol == "SASL_SSL"  # the file's settings survive the merge
    assert kafka.ssl_ca_location == "/etc/regime-fleet/kafka-tls/ca.crt"


@pytest.mark.parametrize("profile", PROFILES)
def test_no_configmap_holds_a_secret(rendered: dict[str, str], profile: str) -> None:
    for d in documents(rendered[profile]):
        if d["kind"] == "ConfigMap" and "settings.yaml" in d["data"]:
            kafka = yaml.safe_load(d["data"]["settings.yaml"])["kafka"]
            assert not {"sasl_password", "ssl_key_password", "schema_registry_basic_auth"} & set(kafka)
