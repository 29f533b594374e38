#!/usr/bin/env bash
# The tools `make k8s-check` runs, built or fetched once per machine into $REGIME_FLEET_TOOLS
# (default ~/.cache/regime-fleet-tools, outside the repository). Idempotent: a tool already
# there at its pinned version is kept, so a second run takes a second.
#
#   helm/tools.sh            install whatever is missing
#   helm/tools.sh versions   print the installed versions
#
# Where each comes from (registries only, no release downloads):
#   helm, kubeconform    `go install` from the Go module proxy
#   helm-unittest        built from a wrapper module that repeats helm-unittest's replace
#                        directive (its own go.mod has one, so `go install` refuses it)
#   promtool             Debian's `prometheus` package (`apt-get download` + `dpkg -x`,
#                        nothing installed, no service started); `go install` elsewhere
#   Kubernetes schemas   the `kubernetes-validate` wheel from PyPI, rewritten for kubeconform
#                        ($id dropped, $ref made relative)
#   wheelhouse           every dependency of pyproject.toml as wheels (pip), keyed by its hash:
#                        tests/k8s/test_image.py installs the image's way from it, offline
#   native sources       native/'s build requirement (maturin, pip) and its locked crates
#                        (`cargo vendor`), keyed by native/pyproject.toml and Cargo.lock: the same
#                        test builds the image's native wheel offline; skipped without cargo
# Go builds honour GOFLAGS/GOMAXPROCS, e.g. `GOMAXPROCS=1 helm/tools.sh` on a shared machine.
set -euo pipefail

TOOLS="${REGIME_FLEET_TOOLS:-$HOME/.cache/regime-fleet-tools}"
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
HELM_UNITTEST_VERSION=v1.1.2
YAML_JSONPATH_FORK=v0.4.0 # helm-unittest replaces vmware-labs/yaml-jsonpath v0.3.2 with it
PROMTOOL_GO_VERSION=v0.316.0 # only where Debian's package is not available
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSIONS="1.30.0 1.35.0" # the oldest the chart supports and a current one
PYTHON="${PYTHON:-python3}"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
mkdir -p "$BIN" "$STAMPS"

have() { [ -f "$STAMPS/$1" ] && [ -e "$2" ]; }
done_() { date -u +%FT%TZ >"$STAMPS/$1"; }
log() { echo "tools: $*" >&2; }

need_go() {
  command -v go >/dev/null || { log "Go is needed to build $1 (https://go.dev/dl)"; exit 1; }
}

install_helm() {
  have "helm-$HELM_VERSION" "$BIN/helm" && return
  need_go helm
  log "building helm $HELM_VERSION (about 90 s)"
  GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  done_ "helm-$HELM_VERSION"
}

install_kubeconform() {
  have "kubeconform-$KUBECONFORM_VERSION" "$BIN/kubeconform" && return
  need_go kubeconform
  log "building kubeconform $KUBECONFORM_VERSION"
  GOBIN="$BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  done_ "kubeconform-$KUBECONFORM_VERSION"
}

install_helm_unittest() {
  have "helm-unittest-$HELM_UNITTEST_VERSION" "$BIN/helm-unittest" && return
  need_go helm-unittest
  log "building helm-unittest $HELM_UNITTEST_VERSION from a wrapper module"
  local src="$TOOLS/src/helm-unittest-$HELM_UNITTEST_VERSION"
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    go mod init regime-fleet.local/helm-unittest-wrapper >/dev/null 2>&1
    go mod edit -replace "github.com/vmware-labs/yaml-jsonpath=github.com/helm-unittest/yaml-jsonpath@$YAML_JSONPATH_FORK"
    go get "github.com/helm-unittest/helm-unittest/cmd/helm-unittest@$HELM_UNITTEST_VERSION"
    go build -o "$BIN/helm-unittest" github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  )
  done_ "helm-unittest-$HELM_UNITTEST_VERSION"
}

install_promtool() {
  have promtool "$BIN/promtool" && return
  if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    local work="$TOOLS/src/prometheus-deb"
    rm -rf "$work" && mkdir -p "$work"
    log "fetching Debian's prometheus package for promtool"
    if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
      apt-get update -qq >/dev/null 2>&1 || true
      (cd "$work" && apt-get download prometheus >/dev/null)
    fi
    dpkg -x "$work"/prometheus_*.deb "$work/root"
    cp "$work/root/usr/bin/promtool" "$BIN/promtool"
    basename "$work"/prometheus_*.deb >"$STAMPS/promtool"
    rm -rf "$work"
  else
    need_go promtool
    log "building promtool $PROMTOOL_GO_VERSION (slow)"
    GOBIN="$BIN" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_GO_VERSION"
    echo "go $PROMTOOL_GO_VERSION" >"$STAMPS/promtool"
  fi
}

install_k8s_schemas() {
  local out="$TOOLS/k8s-schemas" v missing=0
  for v in $KUBERNETES_VERSIONS; do
    have "k8s-schemas-$KUBERNETES_VALIDATE_VERSION-$v" "$out/v$v-standalone-strict/_definitions.json" || missing=1
  done
  [ $missing = 0 ] && return
  local work="$TOOLS/src/kubernetes-validate"
  rm -rf "$work" && mkdir -p "$work"
  log "fetching kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI for the Kubernetes schemas"
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$work" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  for v in $KUBERNETES_VERSIONS; do
    rm -rf "$out/v$v-standalone-strict"
    "$PYTHON" - "$work"/kubernetes_validate-*.whl "$v" "$out/v$v-standalone-strict" <<'EOF'
"""Unpack one version's strict schemas; drop $id, make $ref relative (kubeconform reads files)."""
import json, sys, zipfile
from pathlib import Path

wheel, version, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"

def fix(node):
    if isinstance(node, dict):
        node.pop("$id", None)
        return {k: v.replace("/api/_definitions.json", "_definitions.json")
                if k == "$ref" and isinstance(v, str) else fix(v) for k, v in node.items()}
    if isinstance(node, list):
        return [fix(v) for v in node]
    return node

out.mkdir(parents=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"no schemas for Kubernetes {version} in {wheel}")
    for name in names:
        (out / name[len(prefix):]).write_text(json.dumps(fix(json.loads(z.read(name)))))
EOF
    done_ "k8s-schemas-$KUBERNETES_VALIDATE_VERSION-$v"
  done
  rm -rf "$work"
}

install_wheelhouse() {
  local key dir
  key=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
  dir="$TOOLS/wheelhouse/$key"
  [ -f "$dir/.complete" ] && return
  log "building the dependency wheelhouse for pyproject.toml ($key)"
  rm -rf "$TOOLS/wheelhouse" && mkdir -p "$dir"
  "$PYTHON" -m pip wheel -q --wheel-dir "$dir" "$ROOT"
  rm -f "$dir"/regime_fleet-*.whl # the project's own wheel is built fresh by the test
  touch "$dir/.complete"
}

install_native_sources() {
  local key dir cargo requires
  key=$(cat "$ROOT/native/pyproject.toml" "$ROOT/native/Cargo.lock" | sha256sum | cut -c1-16)
  dir="$TOOLS/native/$key"
  [ -f "$dir/.complete" ] && return
  cargo=$(command -v cargo || true)
  [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ] && cargo="$HOME/.cargo/bin/cargo"
  if [ -z "$cargo" ]; then
    log "no cargo: not fetching native/'s crates (the image's native wheel is not replayed)"
    return
  fi
  log "fetching native/'s build requirement and locked crates ($key)"
  rm -rf "$TOOLS/native" && mkdir -p "$dir"
  requires=$("$PYTHON" -c 'import sys, tomllib
print(*tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"])' "$ROOT/native/pyproject.toml")
  # shellcheck disable=SC2086 # one requirement per word
  "$PYTHON" -m pip download -q --only-binary=:all: -d "$dir/wheels" $requires
  "$cargo" vendor -q --locked --versioned-dirs --manifest-path "$ROOT/native/Cargo.toml" "$dir/crates" >/dev/null
  touch "$dir/.complete"
}

versions() {
  echo "helm: $("$BIN/helm" version --short 2>/dev/null || echo missing)"
  echo "kubeconform: $("$BIN/kubeconform" -v 2>/dev/null || echo missing)"
  echo "helm-unittest: $HELM_UNITTEST_VERSION ($([ -x "$BIN/helm-unittest" ] && echo built || echo missing))"
  echo "promtool: $("$BIN/promtool" --version 2>/dev/null | head -1 || echo missing) [$(cat "$STAMPS/promtool" 2>/dev/null)]"
  echo "kubernetes schemas: kubernetes-validate $KUBERNETES_VALIDATE_VERSION, Kubernetes $KUBERNETES_VERSIONS"
}

case "${1:-install}" in
  install)
    # One at a time: Go builds are CPU-heavy.
    install_k8s_schemas
    install_promtool
    install_kubeconform
    install_helm
    install_helm_unittest
    install_wheelhouse
    install_native_sources
    ;;
  versions) versions ;;
  *) echo "usage: $0 [install|versions]" >&2; exit 2 ;;
esac
