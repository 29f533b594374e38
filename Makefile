# regime-fleet. Two commands set everything up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLI    := $(BIN)/regime-fleet
export KAFKA_PORT ?= 9092
TEST_PROCESSES ?= 2  # pytest-xdist processes of make test (a test file stays in one)

.PHONY: venv kafka-up kafka-down topics demo test unit integration lint bench replay chaos clean k8s-tools k8s-check browser

$(BIN)/.installed: pyproject.toml harness/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,nautilus]' -e ./harness  # the product (with the Nautilus extra), and the harnesses beside it
	touch $@

# The compiled paths of ingest and the scheduler (native/, Rust + PyO3 via maturin from the registries); without cargo,
# ingest runs its Python path and the scheduler the full decode (docs/benchmarks.md).
CARGO := $(or $(shell command -v cargo 2>/dev/null),$(wildcard $(HOME)/.cargo/bin/cargo))
$(BIN)/.native: $(BIN)/.installed native/Cargo.toml native/Cargo.lock native/pyproject.toml $(wildcard native/src/*.rs)
	@if [ -n "$(CARGO)" ]; then \
	  echo "building the compiled paths of ingest and the scheduler (native/, cargo release build, a few minutes)"; \
	  PATH="$(dir $(CARGO)):$$PATH" $(BIN)/pip install -q ./native && touch $@; \
	else \
	  echo "no Rust toolchain (cargo): ingest will run its Python path and the scheduler the full decode; install Rust and run make venv again for the compiled ones"; \
	fi

venv: $(BIN)/.installed $(BIN)/.native

kafka-up: venv
	@if [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ]; then echo "using $$KAFKA_BOOTSTRAP_SERVERS"; else $(CLI) broker up --port $(KAFKA_PORT); fi

kafka-down: venv
	$(CLI) broker down --port $(KAFKA_PORT)

topics: kafka-up
	$(CLI) topics create

demo: venv
	$(CLI) demo

lint: venv
	$(BIN)/ruff check workers harness/src tests
	$(BIN)/ruff format --check workers harness/src tests
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit

# Builds or fetches helm, kubeconform, helm-unittest, promtool, the Kubernetes schemas and the
# dependency wheelhouse once per machine into ~/.cache/regime-fleet-tools (REGIME_FLEET_TOOLS).
k8s-tools: venv
	PYTHON=$(abspath $(BIN)/python) helm/tools.sh

# The Helm chart, alerts, dashboard, runbooks and the image's install steps, offline (tests/k8s;
# with the tools required, a missing one fails instead of skipping).
k8s-check: k8s-tools
	REGIME_FLEET_REQUIRE_K8S_TOOLS=1 $(BIN)/pytest -q -p no:cacheprovider tests/k8s

# Debian's Chromium and its driver, for the console's browser tests (docs/console.md); Selenium
# (the dev extra) drives them, nothing is downloaded at run time.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; fi

# Starts a broker when none is given and stops it again if it started it. tests/ includes
# tests/k8s, so this runs k8s-check's tests too, with the tools required; and the console's
# browser tests, with the browser required (a missing one fails instead of skipping).
test: venv lint k8s-tools browser
	@started=0; \
	if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ] && ! $(CLI) broker status --port $(KAFKA_PORT) | grep -q '"ready": true'; then \
	  $(CLI) broker up --port $(KAFKA_PORT) && started=1; fi; \
	REGIME_FLEET_REQUIRE_K8S_TOOLS=1 REGIME_FLEET_REQUIRE_BROWSER=1 $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) --dist loadfile tests; rc=$$?; \
	if [ $$started = 1 ]; then $(CLI) broker down --port $(KAFKA_PORT); fi; \
	if [ $$rc = 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; \
	exit $$rc

# BENCH=quick: about a minute; BENCH=all: also replay, state, enricher, training and the api.
bench: venv kafka-up
	$(CLI) bench $(if $(filter quick,$(BENCH)),--quick) $(if $(filter all,$(BENCH)),--all)

# GNU make itself only exits 0 or 2; the replay's own code (0 match, 1 diverges, 2 error) is
# printed, and `regime-fleet replay` returns it unchanged.
replay: venv
	@test -n "$(TOPIC)" || (echo "usage: make replay TOPIC=engine.runs|market.buffer|market.raw|signals.enriched [ARGS=...]" && exit 2)
	@$(CLI) replay --topic $(TOPIC) $(ARGS); rc=$$?; \
	if [ $$rc != 0 ]; then echo "replay exit code $$rc (1: diverges, 2: error)" >&2; fi; exit $$rc

# Fault scenarios against a broker of its own on port 19092 (LONG=1: the long form).
chaos: venv
	$(CLI) chaos $(if $(LONG),--long,)

clean:
	rm -rf $(VENV) state bench/results .pytest_cache .mypy_cache .ruff_cache
